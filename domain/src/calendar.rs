//! Calendar days, for delivery and availability estimates.
//!
//! A day is a count of days since 1970-01-01 (UTC). The domain never reads the
//! clock: callers pass today in, so estimates are reproducible in tests.

/// A calendar day (days since 1970-01-01).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(i32);

impl Day {
    pub const fn from_days_since_epoch(days: i32) -> Self {
        Self(days)
    }

    pub fn days_since_epoch(self) -> i32 {
        self.0
    }

    /// The last day any estimate names (9999-12-31): adding days
    /// saturates here, so no lead time makes an estimate that is not a date.
    pub const LAST: Day = Day(crate::limits::LAST_DAY);

    pub fn plus_days(self, days: u32) -> Self {
        let days = i32::try_from(days).unwrap_or(i32::MAX);
        Self(self.0.saturating_add(days).min(Self::LAST.0.max(self.0)))
    }
}

/// Ground transit: a day per started 800 km, at least one.
pub const TRANSIT_KM_PER_DAY: u64 = 800;

/// Days in transit for a shipment over `distance_m` metres.
pub fn transit_days(distance_m: u64) -> u32 {
    let per_day = TRANSIT_KM_PER_DAY * 1000;
    u32::try_from(distance_m.div_ceil(per_day).max(1)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transit_takes_a_day_per_started_800_km() {
        assert_eq!(transit_days(0), 1);
        assert_eq!(transit_days(800_000), 1);
        assert_eq!(transit_days(800_001), 2);
        assert_eq!(transit_days(3_853_092), 5);
        assert_eq!(Day::from_days_since_epoch(10).plus_days(5), Day::from_days_since_epoch(15));
        assert_eq!(Day::from_days_since_epoch(20_000).plus_days(u32::MAX), Day::LAST);
        assert_eq!(Day::LAST.plus_days(1), Day::LAST);
    }
}
