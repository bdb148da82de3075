//! What callers send, parsed into domain values at the edge ("parse, don't
//! validate"). Knows nothing of GraphQL: every use case validates its own
//! input with these, so one rule (a positive quantity, a reason's length, an
//! id's form) is written once and reads the same in every operation. Every
//! failure is a typed user error naming its field.

use domain::ids::InvalidId;
use domain::limits::{MAX_MONEY_PLACES, MAX_ON_HAND, MAX_PRIORITY, MAX_UNITS};
use domain::{Sku, WarehouseCode};
use infra::secrets::{IdKind, Secrets};
use rust_decimal::Decimal;

use crate::error::{ApiError, ErrorCode, UserError};

/// Longest free text (a reason, a note) a caller may attach.
pub const MAX_TEXT: usize = 500;
/// Longest tracking number.
pub const MAX_TRACKING: usize = 100;
/// Longest name (of a product, a warehouse).
pub const MAX_NAME: usize = 200;
/// Longest customer reference and idempotency key.
pub const MAX_REFERENCE: usize = 200;
/// Longest postal code (the longest in use has 10 characters).
pub const MAX_POSTAL_CODE: usize = 16;
/// Longest product search text.
pub const MAX_SEARCH: usize = 100;
/// Longest plan token (a token the gateway issues has about 200).
pub const MAX_PLAN_TOKEN: usize = 1_000;

fn at(code: ErrorCode, message: impl Into<String>, field: &[&str]) -> ApiError {
    ApiError::User(UserError::new(code, message).at(field))
}

pub fn sku(value: &str, field: &[&str]) -> Result<Sku, ApiError> {
    Sku::new(value).map_err(|e| at(ErrorCode::InvalidInput, e.to_string(), field))
}

pub fn warehouse_code(value: &str, field: &[&str]) -> Result<WarehouseCode, ApiError> {
    WarehouseCode::new(value).map_err(|e| at(ErrorCode::InvalidInput, e.to_string(), field))
}

/// An object's id, typed by `make` (`OrderId::new`, …); `what` carries its
/// article ("an order", "a shipment").
pub fn id<T>(
    value: &str,
    field: &[&str],
    what: &str,
    make: impl Fn(i64) -> Result<T, InvalidId>,
) -> Result<T, ApiError> {
    typed(value.parse::<i64>().ok(), value, field, what, make)
}

/// `row` made into its id type, or the error naming what `value` is not.
fn typed<T>(
    row: Option<i64>,
    value: &str,
    field: &[&str],
    what: &str,
    make: impl Fn(i64) -> Result<T, InvalidId>,
) -> Result<T, ApiError> {
    row.and_then(|row| make(row).ok()).ok_or_else(|| {
        let shown: String = value.chars().take(40).collect();
        at(ErrorCode::InvalidInput, format!("{shown:?} is not {what} id"), field)
    })
}

/// A row named by its public id (`ord_…`, see `infra::secrets`). An id
/// of the right shape that names no row there could be is read as a row
/// that does not exist, so a guess is answered "unknown", like any other.
pub fn public_id<T>(
    secrets: &Secrets,
    kind: IdKind,
    value: &str,
    field: &[&str],
    what: &str,
    make: impl Fn(i64) -> Result<T, InvalidId>,
) -> Result<T, ApiError> {
    let row = secrets.row_id(kind, value).ok().map(|row| row.unwrap_or(i64::MAX));
    typed(row, value, field, what, make)
}

/// A batch of 1 to `max` `what` (levels, products) in one call.
pub fn batch(len: usize, max: usize, what: &str) -> Result<(), ApiError> {
    if len == 0 || len > max {
        return Err(at(ErrorCode::InvalidInput, format!("send between 1 and {max} {what}"), &["input"]));
    }
    Ok(())
}

fn name<'a>(field: &[&'a str], default: &'a str) -> &'a str {
    field.last().copied().unwrap_or(default)
}

/// Units that must be at least one and at most `max`.
fn positive(value: i32, max: u32, field: &[&str]) -> Result<u32, ApiError> {
    let name = name(field, "quantity");
    match u32::try_from(value) {
        Ok(v) if v > 0 && v <= max => Ok(v),
        Ok(v) if v > 0 => Err(at(ErrorCode::BadQuantity, format!("{name} must be at most {max}, got {value}"), field)),
        _ => Err(at(ErrorCode::BadQuantity, format!("{name} must be positive, got {value}"), field)),
    }
}

/// Units of a line, a cancellation, a substitution or a short pick: 1 to
/// `MAX_UNITS`.
pub fn units(value: i32, field: &[&str]) -> Result<u32, ApiError> {
    positive(value, MAX_UNITS, field)
}

/// Units arriving at a warehouse (a receipt, an expected receipt): 1 to
/// `MAX_ON_HAND`.
pub fn arrival(value: i32, field: &[&str]) -> Result<u32, ApiError> {
    positive(value, MAX_ON_HAND, field)
}

/// A count that may be zero (a level, a safety stock): 0 to `MAX_ON_HAND`.
pub fn count(value: i32, field: &[&str]) -> Result<u32, ApiError> {
    let name = name(field, "count");
    match u32::try_from(value) {
        Ok(v) if v <= MAX_ON_HAND => Ok(v),
        Ok(_) => Err(at(ErrorCode::BadQuantity, format!("{name} must be at most {MAX_ON_HAND}, got {value}"), field)),
        Err(_) => Err(at(ErrorCode::BadQuantity, format!("{name} must not be negative, got {value}"), field)),
    }
}

/// A relative change of a level: non-zero, at most `MAX_ON_HAND` either way.
pub fn delta(value: i32, field: &[&str]) -> Result<i64, ApiError> {
    let name = name(field, "delta");
    if value == 0 || value.unsigned_abs() > MAX_ON_HAND {
        return Err(at(
            ErrorCode::BadQuantity,
            format!("{name} must be non-zero and at most {MAX_ON_HAND} either way, got {value}"),
            field,
        ));
    }
    Ok(i64::from(value))
}

/// An amount of money or a rate: 0 to `max`, with at most
/// `MAX_MONEY_PLACES` decimal places (what is stored).
pub fn amount(value: Decimal, max: Decimal, field: &[&str]) -> Result<Decimal, ApiError> {
    let name = name(field, "amount");
    if value.is_sign_negative() && !value.is_zero() || value > max || value.normalize().scale() > MAX_MONEY_PLACES {
        return Err(at(
            ErrorCode::InvalidInput,
            format!("{name} must be from 0 to {max} with at most {MAX_MONEY_PLACES} decimal places, got {value}"),
            field,
        ));
    }
    Ok(value)
}

/// A number of days: 0 to `max`.
pub fn days(value: i32, max: u32, field: &[&str]) -> Result<u32, ApiError> {
    let name = name(field, "days");
    u32::try_from(value)
        .ok()
        .filter(|&v| v <= max)
        .ok_or_else(|| at(ErrorCode::InvalidInput, format!("{name} must be from 0 to {max}, got {value}"), field))
}

/// A warehouse preference or a backorder priority: within ±`MAX_PRIORITY`.
pub fn priority(value: i32, field: &[&str]) -> Result<i32, ApiError> {
    if value.unsigned_abs() > MAX_PRIORITY.unsigned_abs() {
        let name = name(field, "priority");
        return Err(at(
            ErrorCode::InvalidInput,
            format!("{name} must be from -{MAX_PRIORITY} to {MAX_PRIORITY}, got {value}"),
            field,
        ));
    }
    Ok(value)
}

/// A feed's sequence number: not negative.
pub fn sequence(value: i64, field: &[&str]) -> Result<i64, ApiError> {
    if !(0..=domain::limits::MAX_SEQUENCE).contains(&value) {
        let max = domain::limits::MAX_SEQUENCE;
        return Err(at(ErrorCode::InvalidInput, format!("sequence must be from 0 to {max}, got {value}"), field));
    }
    Ok(value)
}

/// Every ISO 3166-1 alpha-2 code officially assigned.
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ \
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER \
    ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM \
    IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF \
    MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK \
    PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD \
    TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// An ISO 3166-1 alpha-2 country code, in either case; stored upper case.
pub fn country_code(value: &str, field: &[&str]) -> Result<String, ApiError> {
    let code = value.trim().to_ascii_uppercase();
    if code.len() == 2 && COUNTRIES.split_ascii_whitespace().any(|c| c == code) {
        return Ok(code);
    }
    Err(at(ErrorCode::InvalidInput, "countryCode must be an ISO 3166-1 alpha-2 code, e.g. \"US\"", field))
}

/// A postal code: 1 to `MAX_POSTAL_CODE` letters, digits, spaces and hyphens.
pub fn postal_code(value: &str, field: &[&str]) -> Result<String, ApiError> {
    let code = value.trim();
    let fits = (1..=MAX_POSTAL_CODE).contains(&code.chars().count())
        && code.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-');
    if !fits {
        return Err(at(
            ErrorCode::InvalidInput,
            format!("postalCode must be 1 to {MAX_POSTAL_CODE} letters, digits, spaces or hyphens"),
            field,
        ));
    }
    Ok(code.to_owned())
}

/// A string that may be empty but not longer than `max` characters.
pub fn bounded<'a>(value: &'a str, max: usize, field: &[&str]) -> Result<&'a str, ApiError> {
    if value.chars().count() > max {
        let name = name(field, "text");
        return Err(at(ErrorCode::InvalidInput, format!("{name} must be at most {max} characters"), field));
    }
    Ok(value)
}

/// Free text, trimmed: `default` when omitted, 1 to `max` characters.
pub fn text(value: Option<&str>, default: &str, max: usize, field: &[&str]) -> Result<String, ApiError> {
    let value = value.map(str::trim).unwrap_or(default);
    let name = field.last().copied().unwrap_or("text");
    if value.is_empty() || value.chars().count() > max {
        return Err(at(ErrorCode::InvalidInput, format!("{name} must be 1 to {max} characters"), field));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(e: ApiError) -> (ErrorCode, String) {
        match e {
            ApiError::User(u) => (u.code, u.message),
            other => panic!("not a user error: {other:?}"),
        }
    }

    #[test]
    fn every_rule_names_the_field_it_refuses() {
        assert_eq!(units(3, &["quantity"]).unwrap(), 3);
        assert_eq!(
            message(units(0, &["quantity"]).unwrap_err()),
            (ErrorCode::BadQuantity, "quantity must be positive, got 0".into())
        );
        assert_eq!(message(count(-1, &["input", "0", "onHand"]).unwrap_err()).1, "onHand must not be negative, got -1");
        assert_eq!(count(0, &["onHand"]).unwrap(), 0);
        assert_eq!(text(None, "by request", MAX_TEXT, &["reason"]).unwrap(), "by request");
        assert_eq!(text(Some("  late  "), "", MAX_TEXT, &["reason"]).unwrap(), "late");
        assert_eq!(
            message(text(Some(" "), "x", MAX_TEXT, &["reason"]).unwrap_err()).1,
            "reason must be 1 to 500 characters"
        );
        assert!(text(Some(&"é".repeat(MAX_TEXT)), "", MAX_TEXT, &["note"]).is_ok(), "characters, not bytes");
        assert!(text(Some(&"a".repeat(MAX_TEXT + 1)), "", MAX_TEXT, &["note"]).is_err());
        assert_eq!(
            message(units(1_000_001, &["quantity"]).unwrap_err()).1,
            "quantity must be at most 1000000, got 1000001"
        );
        assert_eq!(arrival(1_000_000_000, &["quantity"]).unwrap(), 1_000_000_000);
        assert!(arrival(1_000_000_001, &["quantity"]).is_err());
        assert_eq!(
            message(count(i32::MAX, &["onHand"]).unwrap_err()).1,
            "onHand must be at most 1000000000, got 2147483647"
        );
        assert!(delta(0, &["delta"]).is_err() && delta(i32::MIN, &["delta"]).is_err());
        assert_eq!(delta(-5, &["delta"]).unwrap(), -5);
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(amount(d("19.99"), d("1000000"), &["unitPrice"]).unwrap(), d("19.99"));
        assert_eq!(
            message(amount(d("99999999999999999999999999"), d("1000000"), &["unitPrice"]).unwrap_err()),
            (
                ErrorCode::InvalidInput,
                "unitPrice must be from 0 to 1000000 with at most 6 decimal places, got 99999999999999999999999999"
                    .into()
            )
        );
        assert!(amount(d("0.0000001"), d("1"), &["costPerKm"]).is_err());
        assert!(amount(d("1.5000000"), d("2"), &["costPerKm"]).is_ok(), "trailing zeros are not places");
        assert!(amount(d("-0.01"), d("1"), &["baseCost"]).is_err());
        assert_eq!(
            message(days(100_000_000, 3650, &["leadTimeDays"]).unwrap_err()).1,
            "leadTimeDays must be from 0 to 3650, got 100000000"
        );
        assert!(days(-1, 3650, &["leadTimeDays"]).is_err());
        assert!(priority(1_000_000, &["priority"]).is_ok() && priority(-1_000_000, &["priority"]).is_ok());
        assert!(priority(i32::MIN, &["priority"]).is_err() && priority(1_000_001, &["priority"]).is_err());
        assert!(sequence(-1, &["sequence"]).is_err() && sequence(0, &["sequence"]).is_ok());
        assert_eq!(COUNTRIES.split_ascii_whitespace().count(), 249);
        assert_eq!(country_code(" us ", &["countryCode"]).unwrap(), "US");
        for bad in ["USA", "XX", "", "U", "ü1"] {
            assert!(country_code(bad, &["countryCode"]).is_err(), "{bad}");
        }
        assert_eq!(postal_code(" 10001-1234 ", &["postalCode"]).unwrap(), "10001-1234");
        assert!(postal_code(&"1".repeat(17), &["postalCode"]).is_err());
        assert!(postal_code("<script>", &["postalCode"]).is_err());
        assert!(bounded("", 3, &["x"]).is_ok() && bounded("abcd", 3, &["x"]).is_err());
        use domain::ids::{OrderId, OrderLineId};
        assert!(batch(1, 5, "levels").is_ok() && batch(5, 5, "levels").is_ok());
        assert_eq!(message(batch(0, 5, "levels").unwrap_err()).1, "send between 1 and 5 levels");
        assert_eq!(message(batch(6, 5, "products").unwrap_err()).1, "send between 1 and 5 products");
        assert_eq!(id("42", &["id"], "an order", OrderId::new).unwrap().get(), 42);
        assert_eq!(
            message(id("x1", &["id"], "an order line", OrderLineId::new).unwrap_err()).1,
            "\"x1\" is not an order line id"
        );
        assert!(id("-3", &["id"], "an order", OrderId::new).is_err(), "ids are positive");
    }
}
