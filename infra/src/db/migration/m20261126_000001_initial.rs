//! The initial schema: network, catalog, stock, orders and their history.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

fn table(name: &'static str) -> TableCreateStatement {
    Table::create().table(name).if_not_exists().take()
}

fn index(name: &'static str, table: &'static str, columns: &[&'static str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table).if_not_exists();
    for &c in columns {
        index.col(c);
    }
    index.take()
}

const TABLES: [&str; 13] = [
    "idempotency_keys",
    "order_events",
    "backorders",
    "shipment_lines",
    "shipments",
    "order_lines",
    "orders",
    "inbound_receipts",
    "stock_levels",
    "product_substitutes",
    "products",
    "warehouses",
    "partners",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(table("partners").col(big_pk_auto("id")).col(string_uniq("code")).col(string("name")).take())
            .await?;
        m.create_table(
            table("warehouses")
                .col(big_pk_auto("id"))
                .col(string_uniq("code"))
                .col(string("name"))
                .col(big_integer_null("partner_id"))
                .col(double("latitude"))
                .col(double("longitude"))
                .col(integer("priority"))
                .col(integer("handling_days"))
                .col(big_integer("base_cost_micros"))
                .col(big_integer("cost_per_km_micros"))
                .col(boolean("active"))
                .col(big_integer("version"))
                .col(big_integer("updated_at_ms"))
                .foreign_key(ForeignKey::create().from("warehouses", "partner_id").to("partners", "id"))
                .take(),
        )
        .await?;
        m.create_table(
            table("products")
                .col(big_pk_auto("id"))
                .col(string_uniq("sku"))
                .col(string("name"))
                .col(big_integer("unit_price_micros"))
                .col(boolean("backorderable"))
                .col(integer("lead_time_days"))
                .col(big_integer("updated_at_ms"))
                .take(),
        )
        .await?;
        m.create_table(
            table("product_substitutes")
                .col(big_integer("product_id"))
                .col(integer("rank"))
                .col(string("substitute_sku"))
                .primary_key(Index::create().col("product_id").col("rank"))
                .foreign_key(ForeignKey::create().from("product_substitutes", "product_id").to("products", "id"))
                .take(),
        )
        .await?;
        m.create_table(
            table("stock_levels")
                .col(big_integer("warehouse_id"))
                .col(big_integer("product_id"))
                .col(big_integer("on_hand"))
                .col(big_integer("reserved"))
                .col(big_integer("safety_stock"))
                .col(big_integer("version"))
                .col(big_integer_null("feed_sequence"))
                .col(big_integer("updated_at_ms"))
                .primary_key(Index::create().col("warehouse_id").col("product_id"))
                .foreign_key(ForeignKey::create().from("stock_levels", "warehouse_id").to("warehouses", "id"))
                .foreign_key(ForeignKey::create().from("stock_levels", "product_id").to("products", "id"))
                .take(),
        )
        .await?;
        m.create_index(index("stock_levels_by_product", "stock_levels", &["product_id"])).await?;
        m.create_table(
            table("inbound_receipts")
                .col(big_pk_auto("id"))
                .col(big_integer("warehouse_id"))
                .col(big_integer("product_id"))
                .col(big_integer("quantity"))
                .col(integer("expected_on"))
                .col(string("status"))
                .col(big_integer("created_at_ms"))
                .foreign_key(ForeignKey::create().from("inbound_receipts", "warehouse_id").to("warehouses", "id"))
                .foreign_key(ForeignKey::create().from("inbound_receipts", "product_id").to("products", "id"))
                .take(),
        )
        .await?;
        m.create_index(index("inbound_receipts_by_product", "inbound_receipts", &["product_id", "expected_on"]))
            .await?;
        m.create_table(
            table("orders")
                .col(big_pk_auto("id"))
                .col(string("customer_reference"))
                .col(string("status"))
                .col(string("policy"))
                .col(integer_null("max_shipments"))
                .col(double("latitude"))
                .col(double("longitude"))
                .col(string_null("country_code"))
                .col(string_null("postal_code"))
                .col(boolean("backorder_consent"))
                .col(integer("priority"))
                .col(big_integer("shipping_cost_micros"))
                .col(big_integer("created_at_ms"))
                .col(big_integer("updated_at_ms"))
                .take(),
        )
        .await?;
        m.create_index(index("orders_by_status", "orders", &["status", "id"])).await?;
        m.create_table(
            table("order_lines")
                .col(big_pk_auto("id"))
                .col(big_integer("order_id"))
                .col(integer("line_no"))
                .col(big_integer("product_id"))
                .col(string("sku"))
                .col(big_integer("quantity"))
                .col(big_integer("unit_price_micros"))
                .foreign_key(ForeignKey::create().from("order_lines", "order_id").to("orders", "id"))
                .foreign_key(ForeignKey::create().from("order_lines", "product_id").to("products", "id"))
                .take(),
        )
        .await?;
        m.create_index(index("order_lines_by_order", "order_lines", &["order_id", "line_no"])).await?;
        m.create_index(index("order_lines_by_sku", "order_lines", &["sku", "order_id"])).await?;
        m.create_table(
            table("shipments")
                .col(big_pk_auto("id"))
                .col(big_integer("order_id"))
                .col(big_integer("warehouse_id"))
                .col(string("status"))
                .col(string_null("tracking_number"))
                .col(big_integer("cost_micros"))
                .col(big_integer("distance_m"))
                .col(integer("estimated_delivery"))
                .col(big_integer("created_at_ms"))
                .col(big_integer("updated_at_ms"))
                .foreign_key(ForeignKey::create().from("shipments", "order_id").to("orders", "id"))
                .foreign_key(ForeignKey::create().from("shipments", "warehouse_id").to("warehouses", "id"))
                .take(),
        )
        .await?;
        m.create_index(index("shipments_by_order", "shipments", &["order_id"])).await?;
        m.create_index(index("shipments_by_warehouse", "shipments", &["warehouse_id", "status"])).await?;
        m.create_table(
            table("shipment_lines")
                .col(big_pk_auto("id"))
                .col(big_integer("shipment_id"))
                .col(big_integer("order_line_id"))
                .col(big_integer("product_id"))
                .col(string("sku"))
                .col(big_integer("quantity"))
                .foreign_key(ForeignKey::create().from("shipment_lines", "shipment_id").to("shipments", "id"))
                .foreign_key(ForeignKey::create().from("shipment_lines", "order_line_id").to("order_lines", "id"))
                .take(),
        )
        .await?;
        m.create_index(index("shipment_lines_by_shipment", "shipment_lines", &["shipment_id"])).await?;
        m.create_table(
            table("backorders")
                .col(big_pk_auto("id"))
                .col(big_integer("order_id"))
                .col(big_integer("order_line_id"))
                .col(big_integer("product_id"))
                .col(string("sku"))
                .col(big_integer("quantity"))
                .col(string("status"))
                .col(integer("estimated_available"))
                .col(big_integer_null("confirmed_at_ms"))
                .col(big_integer("created_at_ms"))
                .col(big_integer("updated_at_ms"))
                .foreign_key(ForeignKey::create().from("backorders", "order_id").to("orders", "id"))
                .foreign_key(ForeignKey::create().from("backorders", "order_line_id").to("order_lines", "id"))
                .take(),
        )
        .await?;
        m.create_index(index("backorders_by_order", "backorders", &["order_id"])).await?;
        m.create_index(index("backorders_queue", "backorders", &["product_id", "status", "confirmed_at_ms"])).await?;
        m.create_table(
            table("order_events")
                .col(big_pk_auto("id"))
                .col(big_integer("order_id"))
                .col(string("kind"))
                .col(text("payload"))
                .col(big_integer("created_at_ms"))
                .foreign_key(ForeignKey::create().from("order_events", "order_id").to("orders", "id"))
                .take(),
        )
        .await?;
        m.create_index(index("order_events_by_order", "order_events", &["order_id", "id"])).await?;
        m.create_table(
            table("idempotency_keys")
                .col(string("key").primary_key())
                .col(string("request_hash"))
                .col(big_integer("order_id"))
                .col(big_integer("created_at_ms"))
                .foreign_key(ForeignKey::create().from("idempotency_keys", "order_id").to("orders", "id"))
                .take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for name in TABLES {
            m.drop_table(Table::drop().table(name).if_exists().take()).await?;
        }
        Ok(())
    }
}
