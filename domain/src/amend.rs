//! Changing an order after placement: where each unit of a line is, what
//! may still be cancelled or substituted, and the life of a substitution
//! proposal.

use thiserror::Error;

/// Where each unit of a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LineAccount {
    pub ordered: u32,
    /// Left a warehouse.
    pub shipped: u32,
    /// Reserved in packages that have not left yet.
    pub allocated: u32,
    /// Waiting as backorders (confirmed or not).
    pub backordered: u32,
    pub cancelled: u32,
    /// Shipping as another product instead.
    pub substituted: u32,
}

/// Which holdings give up units when a line loses `wanted` of them (a
/// cancellation, a substitution, a short pick): the newest first, so the
/// oldest keep their place in the queue and the packages that were
/// promised first stay whole. `held` is (holding, units), where a larger
/// key is newer; returns (holding, units taken) in the order to take them.
pub fn newest_first<K: Ord + Copy>(mut held: Vec<(K, u32)>, wanted: u32) -> Vec<(K, u32)> {
    held.sort_by_key(|&(key, _)| std::cmp::Reverse(key));
    let mut left = wanted;
    let mut out = Vec::new();
    for (key, units) in held {
        if left == 0 {
            break;
        }
        let take = units.min(left);
        if take > 0 {
            out.push((key, take));
            left -= take;
        }
    }
    out
}

/// Why units of a line cannot be cancelled or substituted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AmendError {
    #[error("cannot cancel {asked} units: {account}; shipped units cannot be cancelled")]
    AlreadyShipped { asked: u32, account: String },
    #[error("cannot cancel {asked} units: {account}")]
    NothingToCancel { asked: u32, account: String },
    #[error("{account}; {asked} cannot be substituted, only waiting units can")]
    NothingToSubstitute { asked: u32, account: String },
}

impl LineAccount {
    /// Every unit ordered is in exactly one place.
    pub fn balances(&self) -> bool {
        u64::from(self.ordered)
            == [self.shipped, self.allocated, self.backordered, self.cancelled, self.substituted]
                .iter()
                .map(|&u| u64::from(u))
                .sum::<u64>()
    }

    /// Units that have not shipped and are still owed.
    pub fn cancellable(&self) -> u32 {
        self.backordered + self.allocated
    }

    /// The accounting in words, for error messages.
    fn describe(&self, line: &str) -> String {
        format!(
            "line {line} has {} of {} units left to cancel ({} shipped, {} cancelled, {} substituted)",
            self.cancellable(),
            self.ordered,
            self.shipped,
            self.cancelled,
            self.substituted
        )
    }

    /// How many units a cancellation of `asked` (all that is left when
    /// `None`) takes. `line` names the line in errors.
    pub fn to_cancel(&self, asked: Option<u32>, line: &str) -> Result<u32, AmendError> {
        let asked = asked.unwrap_or(self.cancellable());
        if asked > self.cancellable() && self.shipped > 0 {
            return Err(AmendError::AlreadyShipped { asked, account: self.describe(line) });
        }
        if asked == 0 || asked > self.cancellable() {
            return Err(AmendError::NothingToCancel { asked, account: self.describe(line) });
        }
        Ok(asked)
    }

    /// How many waiting units a substitution of `asked` (all waiting units
    /// when `None`) takes.
    pub fn to_substitute(&self, asked: Option<u32>, line: &str) -> Result<u32, AmendError> {
        let asked = asked.unwrap_or(self.backordered);
        if asked == 0 || asked > self.backordered {
            let account = format!("line {line} has {} waiting units", self.backordered);
            return Err(AmendError::NothingToSubstitute { asked, account });
        }
        Ok(asked)
    }
}

crate::order::named_enum!(
    /// A substitution: `PROPOSED → ACCEPTED | DECLINED`, or `APPLIED` at once
    /// by an agent.
    SubstitutionStatus {
        Proposed => "PROPOSED",
        Accepted => "ACCEPTED",
        Declined => "DECLINED",
        Applied => "APPLIED",
    }
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("already answered ({})", .0.as_str().to_lowercase())]
pub struct AlreadyAnswered(pub SubstitutionStatus);

impl SubstitutionStatus {
    /// The shopper's answer; a proposal is answered once.
    pub fn respond(self, accept: bool) -> Result<SubstitutionStatus, AlreadyAnswered> {
        match self {
            SubstitutionStatus::Proposed if accept => Ok(SubstitutionStatus::Accepted),
            SubstitutionStatus::Proposed => Ok(SubstitutionStatus::Declined),
            answered => Err(AlreadyAnswered(answered)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_gives_up_its_newest_holdings_first() {
        assert_eq!(newest_first(vec![(1, 2), (5, 1), (3, 4)], 4), vec![(5, 1), (3, 3)]);
        assert_eq!(newest_first(vec![(1, 2)], 5), vec![(1, 2)], "never more than is held");
        assert_eq!(newest_first(vec![(1, 2), (2, 0)], 0), vec![]);
        assert_eq!(newest_first(vec![((7, 1), 1), ((7, 2), 1), ((9, 1), 1)], 2), vec![((9, 1), 1), ((7, 2), 1)]);
    }

    const LINE: LineAccount =
        LineAccount { ordered: 13, shipped: 9, allocated: 1, backordered: 2, cancelled: 1, substituted: 0 };

    #[test]
    fn cancellation_takes_only_what_has_not_shipped() {
        assert!(LINE.balances());
        assert_eq!(LINE.to_cancel(Some(3), "1 (LAMP)"), Ok(3));
        assert_eq!(LINE.to_cancel(None, "1 (LAMP)"), Ok(3), "all that is left");
        assert_eq!(
            LINE.to_cancel(Some(4), "1 (LAMP)").unwrap_err().to_string(),
            "cannot cancel 4 units: line 1 (LAMP) has 3 of 13 units left to cancel (9 shipped, 1 cancelled, 0 substituted); shipped units cannot be cancelled"
        );
        let nothing_shipped = LineAccount { shipped: 0, cancelled: 10, ..LINE };
        assert!(matches!(nothing_shipped.to_cancel(Some(4), "1"), Err(AmendError::NothingToCancel { .. })));
        let done = LineAccount { ordered: 2, shipped: 0, allocated: 0, backordered: 0, cancelled: 2, substituted: 0 };
        assert!(matches!(done.to_cancel(None, "1"), Err(AmendError::NothingToCancel { asked: 0, .. })));
        assert!(!LineAccount { ordered: 3, ..Default::default() }.balances());
    }

    #[test]
    fn only_waiting_units_are_substituted() {
        assert_eq!(LINE.to_substitute(None, "1"), Ok(2));
        assert_eq!(LINE.to_substitute(Some(1), "1"), Ok(1));
        assert_eq!(
            LINE.to_substitute(Some(3), "1 (LAMP)").unwrap_err().to_string(),
            "line 1 (LAMP) has 2 waiting units; 3 cannot be substituted, only waiting units can"
        );
        assert!(LineAccount { backordered: 0, ..LINE }.to_substitute(None, "1").is_err());
    }

    #[test]
    fn a_proposal_is_answered_once() {
        use SubstitutionStatus as S;
        assert_eq!(S::Proposed.respond(true), Ok(S::Accepted));
        assert_eq!(S::Proposed.respond(false), Ok(S::Declined));
        for answered in [S::Accepted, S::Declined, S::Applied] {
            for accept in [true, false] {
                assert_eq!(answered.respond(accept), Err(AlreadyAnswered(answered)));
            }
        }
        assert_eq!(S::Accepted.respond(false).unwrap_err().to_string(), "already answered (accepted)");
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(*s));
        }
    }
}
