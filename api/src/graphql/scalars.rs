//! Scalars: exact money and decimals as strings, calendar dates, instants.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use rust_decimal::Decimal;

/// An exact amount of money, as a decimal string ("12.34"). Never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Money(pub domain::Money);

#[Scalar(name = "Money")]
impl ScalarType for Money {
    fn parse(value: Value) -> InputValueResult<Self> {
        let amount = parse_decimal::<Self>(value)?;
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err(InputValueError::custom("money must not be negative"));
        }
        Ok(Money(domain::Money::new(amount)))
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// An exact decimal number as a string ("0.0025"), for rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecimalValue(pub Decimal);

#[Scalar(name = "Decimal")]
impl ScalarType for DecimalValue {
    fn parse(value: Value) -> InputValueResult<Self> {
        parse_decimal::<Self>(value).map(DecimalValue)
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.normalize().to_string())
    }
}

/// Decimals are accepted as strings (exact) or as JSON numbers, read by their
/// shortest decimal form.
fn parse_decimal<T: async_graphql::InputType>(value: Value) -> Result<Decimal, InputValueError<T>> {
    match value {
        Value::String(s) => {
            s.trim().parse::<Decimal>().map_err(|_| InputValueError::custom(format!("{s:?} is not a decimal number")))
        }
        Value::Number(n) => n
            .to_string()
            .parse::<Decimal>()
            .map_err(|_| InputValueError::custom(format!("{n} is not a decimal number"))),
        other => Err(InputValueError::expected_type(other)),
    }
}

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Date(pub chrono::NaiveDate);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(s) => chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom(format!("{s:?} is not a YYYY-MM-DD date"))),
            other => Err(InputValueError::expected_type(other)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

impl From<domain::calendar::Day> for Date {
    fn from(day: domain::calendar::Day) -> Self {
        Date(crate::state::to_date(day))
    }
}

/// An instant, RFC 3339 in UTC with milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DateTime(pub i64);

#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(s) => chrono::DateTime::parse_from_rfc3339(&s)
                .map(|t| DateTime(t.timestamp_millis()))
                .map_err(|_| InputValueError::custom(format!("{s:?} is not an RFC 3339 instant"))),
            other => Err(InputValueError::expected_type(other)),
        }
    }

    fn to_value(&self) -> Value {
        let t = chrono::DateTime::from_timestamp_millis(self.0).unwrap_or_default();
        Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    }
}
