//! `schema.graphql` is generated from the code; this keeps them identical.
//! `UPDATE_EXPECT=1 cargo test` rewrites it after an intended change.

use expect_test::expect_file;

#[test]
fn schema_file_matches_the_served_schema() {
    expect_file!["../../schema.graphql"].assert_eq(&api::graphql::sdl());
}
