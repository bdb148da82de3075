//! Exact search for the warehouse set: branch and bound.
//!
//! Given the per-line targets, the order ships the same units whatever set
//! covers them, because a warehouse's stock of one sku serves only that sku's
//! line: once the set is fixed, each line simply takes what the set holds. So
//! the problem is over sets alone — a multi-unit set cover (fewest
//! warehouses, then cheapest, then most preferred) or, under a shipment cap,
//! a budgeted maximum coverage. Both are NP-hard in general; orders have at
//! most a few dozen lines, so a depth-first search with strong bounds proves
//! optimality quickly on real instances and a node budget bounds the rest.
//!
//! Two branchings, one per mode:
//! - *cover*: take the uncovered line with the fewest suppliers left; some
//!   supplier of it must be in any cover, so branch over them, excluding the
//!   earlier siblings (each set is visited once).
//! - *capped*: include or exclude the warehouse that adds the most units.
//!
//! Bounds, all valid lower bounds on the picks still needed: per line (the
//! fewest of its suppliers that reach its residual), over all units (the
//! fewest warehouses whose contributions reach the total residual), and a
//! packing of lines whose remaining suppliers are pairwise disjoint (each such
//! line needs its own warehouses, so their needs add up). Costs are bounded by
//! the cheapest warehouses that could fill those picks.

use std::cmp::{Ordering, Reverse};

/// The optimizer's view of one order: lines, candidate warehouses (indices
/// into the network, ascending, so candidate order is preference order) and
/// what each candidate can contribute to each line.
#[derive(Debug, Clone)]
pub(crate) struct Problem {
    /// Units wanted from the network per line: `min(ordered, available)`.
    pub(crate) targets: Vec<u32>,
    /// Row-major `[candidate][line]`: `min(available, target)`.
    supply: Vec<u32>,
    /// Per line, the candidates with positive supply.
    suppliers: Vec<Vec<u32>>,
    /// Per candidate, cost of one shipment in cents.
    pub(crate) cost: Vec<i64>,
    /// Candidates sorted by (cost, preference).
    by_cost: Vec<u32>,
}

impl Problem {
    /// `available[c][i]`: units of line `i`'s sku at candidate `c`.
    pub(crate) fn new(ordered: &[u32], available: &[Vec<u32>], cost: Vec<i64>) -> Self {
        let n = ordered.len();
        let targets: Vec<u32> = (0..n)
            .map(|i| {
                let total: u64 = available.iter().map(|row| u64::from(row[i])).sum();
                ordered[i].min(u32::try_from(total).unwrap_or(u32::MAX))
            })
            .collect();
        let mut supply = Vec::with_capacity(available.len() * n);
        let mut suppliers = vec![Vec::new(); n];
        for (c, row) in available.iter().enumerate() {
            for i in 0..n {
                let s = row[i].min(targets[i]);
                supply.push(s);
                if s > 0 {
                    suppliers[i].push(c as u32);
                }
            }
        }
        let mut by_cost: Vec<u32> = (0..available.len() as u32).collect();
        by_cost.sort_by_key(|&c| (cost[c as usize], c));
        Self { targets, supply, suppliers, cost, by_cost }
    }

    fn lines(&self) -> usize {
        self.targets.len()
    }

    fn candidates(&self) -> usize {
        self.cost.len()
    }

    pub(crate) fn supply(&self, candidate: usize, line: usize) -> u32 {
        self.supply[candidate * self.lines() + line]
    }

    fn total_target(&self) -> u64 {
        self.targets.iter().map(|&t| u64::from(t)).sum()
    }

    /// Units a set ships: per line, the smaller of its target and what the
    /// set holds.
    pub(crate) fn units_of(&self, set: &[u32]) -> u64 {
        (0..self.lines())
            .map(|i| {
                let held: u64 = set.iter().map(|&c| u64::from(self.supply(c as usize, i))).sum();
                held.min(u64::from(self.targets[i]))
            })
            .sum()
    }

    pub(crate) fn cost_of(&self, set: &[u32]) -> i64 {
        set.iter().map(|&c| self.cost[c as usize]).sum()
    }
}

/// The deterministic last tie-break between two sets of equal size, units and
/// cost: the set holding the most preferred warehouse that the other lacks
/// wins. `Less` means `a` is preferred. Both slices ascend.
///
/// Read as bit masks with the most preferred warehouse as the highest bit,
/// a larger mask wins; that reading also orders a set against its supersets,
/// which the bound on completions relies on.
pub(crate) fn preference(a: &[u32], b: &[u32]) -> Ordering {
    let mut it = a.iter().zip(b.iter());
    for (x, y) in it.by_ref() {
        if x != y {
            return x.cmp(y);
        }
    }
    b.len().cmp(&a.len())
}

/// A candidate solution and its objective value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Solution {
    /// Chosen candidates, ascending.
    pub(crate) set: Vec<u32>,
    pub(crate) units: u64,
    pub(crate) cost: i64,
}

impl Solution {
    fn new(problem: &Problem, mut set: Vec<u32>) -> Self {
        set.sort_unstable();
        let units = problem.units_of(&set);
        let cost = problem.cost_of(&set);
        Self { set, units, cost }
    }

    pub(crate) fn count(&self) -> usize {
        self.set.len()
    }

    /// The full objective: more units, then fewer shipments, then lower cost,
    /// then preference. `Less` means `self` is better.
    pub(crate) fn compare(&self, other: &Solution) -> Ordering {
        (Reverse(self.units), self.count(), self.cost)
            .cmp(&(Reverse(other.units), other.count(), other.cost))
            .then_with(|| preference(&self.set, &other.set))
    }
}

/// What the search found and what it could prove.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) best: Solution,
    /// The search finished: `best` is optimal.
    pub(crate) proven: bool,
    /// No plan shipping `best.units` units uses fewer warehouses than this.
    pub(crate) lower_bound: u32,
    pub(crate) nodes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Allowed,
    Chosen,
    Excluded,
}

struct Search<'p> {
    p: &'p Problem,
    marks: Vec<Mark>,
    chosen: Vec<u32>,
    residual: Vec<u32>,
    open_lines: usize,
    units: u64,
    cost: i64,
    cap: usize,
    best: Option<Solution>,
    nodes: u64,
    budget: u64,
    stop: Option<super::Stop>,
    exhausted: bool,
}

/// Nodes between two questions to the caller's stop: often enough to stop
/// within a millisecond, rarely enough to cost nothing.
const STOP_EVERY: u64 = 256;

/// Solves `problem` with at most `cap` warehouses within `budget`.
pub(crate) fn solve(problem: &Problem, cap: Option<u32>, budget: &super::SearchBudget) -> Outcome {
    let cap = cap.map_or(usize::MAX, |k| k as usize);
    let mut search = Search::new(problem, cap, budget);
    if search.stop.as_ref().is_some_and(super::Stop::now) {
        // Out of time before starting: the greedy plan, unproven.
        search.exhausted = true;
    }
    if problem.total_target() == 0 {
        return Outcome { best: Solution::new(problem, Vec::new()), proven: true, lower_bound: 0, nodes: 0 };
    }
    let root_picks = search.cover_bound().map_or(u32::MAX, |(picks, _)| picks as u32);

    // A full cover within the cap is optimal for either objective, and the
    // cover branching proves it far faster; only when none exists do we fall
    // back to maximizing units.
    let greedy = search.greedy();
    if greedy.units == problem.total_target() && greedy.count() <= cap {
        search.best = Some(greedy.clone());
    }
    if root_picks as usize <= cap {
        search.cover();
    }
    let covered = search.best.is_some();
    if !covered && !search.exhausted {
        search.best = Some(greedy);
        search.capped();
    }
    let best = search.best.take().unwrap_or_else(|| search.greedy());
    let proven = !search.exhausted;
    let lower_bound = if proven {
        best.count() as u32
    } else if best.units == problem.total_target() {
        root_picks.min(best.count() as u32)
    } else {
        search.picks_to_reach(best.units).min(best.count() as u32)
    };
    Outcome { best, proven, lower_bound, nodes: search.nodes }
}

impl<'p> Search<'p> {
    fn new(p: &'p Problem, cap: usize, budget: &super::SearchBudget) -> Self {
        let residual = p.targets.clone();
        let open_lines = residual.iter().filter(|&&r| r > 0).count();
        Self {
            p,
            marks: vec![Mark::Allowed; p.candidates()],
            chosen: Vec::new(),
            residual,
            open_lines,
            units: 0,
            cost: 0,
            cap,
            best: None,
            nodes: 0,
            budget: budget.node_limit(),
            stop: budget.stop.clone(),
            exhausted: false,
        }
    }

    fn contribution(&self, c: usize) -> u64 {
        self.residual.iter().enumerate().map(|(i, &r)| u64::from(self.p.supply(c, i).min(r))).sum()
    }

    fn include(&mut self, c: u32) -> Vec<u32> {
        let ci = c as usize;
        self.marks[ci] = Mark::Chosen;
        self.chosen.push(c);
        self.cost += self.p.cost[ci];
        let mut taken = Vec::with_capacity(self.p.lines());
        for i in 0..self.p.lines() {
            let take = self.p.supply(ci, i).min(self.residual[i]);
            if take > 0 {
                self.residual[i] -= take;
                self.units += u64::from(take);
                if self.residual[i] == 0 {
                    self.open_lines -= 1;
                }
            }
            taken.push(take);
        }
        taken
    }

    fn exclude_back(&mut self, c: u32, taken: &[u32]) {
        let ci = c as usize;
        self.marks[ci] = Mark::Allowed;
        self.chosen.pop();
        self.cost -= self.p.cost[ci];
        for (i, &take) in taken.iter().enumerate() {
            if take > 0 {
                if self.residual[i] == 0 {
                    self.open_lines += 1;
                }
                self.residual[i] += take;
                self.units -= u64::from(take);
            }
        }
    }

    /// Counts a node; false once the budget is spent.
    fn tick(&mut self) -> bool {
        if self.exhausted {
            return false;
        }
        self.nodes += 1;
        let stopped = self.nodes.is_multiple_of(STOP_EVERY) && self.stop.as_ref().is_some_and(super::Stop::now);
        if self.nodes > self.budget || stopped {
            self.exhausted = true;
            return false;
        }
        true
    }

    fn offer(&mut self) {
        let candidate = Solution {
            set: {
                let mut s = self.chosen.clone();
                s.sort_unstable();
                s
            },
            units: self.units,
            cost: self.cost,
        };
        let better = match &self.best {
            None => true,
            Some(best) => candidate.compare(best) == Ordering::Less,
        };
        if better {
            self.best = Some(candidate);
        }
    }

    /// Greedy: repeatedly take the warehouse adding the most units (then the
    /// cheapest, then the preferred), within the cap. The incumbent that
    /// seeds both searches.
    fn greedy(&mut self) -> Solution {
        let mut set = Vec::new();
        let mut undo = Vec::new();
        while self.open_lines > 0 && set.len() < self.cap {
            let pick = (0..self.p.candidates())
                .filter(|&c| self.marks[c] == Mark::Allowed)
                .map(|c| (Reverse(self.contribution(c)), self.p.cost[c], c))
                .filter(|&(Reverse(gain), _, _)| gain > 0)
                .min();
            let Some((_, _, c)) = pick else { break };
            undo.push((c as u32, self.include(c as u32)));
            set.push(c as u32);
        }
        for (c, taken) in undo.into_iter().rev() {
            self.exclude_back(c, &taken);
        }
        Solution::new(self.p, set)
    }

    /// Whether the completions of this node could still beat the incumbent
    /// given lower bounds on the picks still needed and their cost.
    fn may_improve(&self, extra_picks: usize, extra_cost: i64, units_reachable: u64) -> bool {
        let Some(best) = &self.best else { return true };
        let count = self.chosen.len() + extra_picks;
        let cost = self.cost + extra_cost;
        match (Reverse(units_reachable), count, cost).cmp(&(Reverse(best.units), best.count(), best.cost)) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => {
                // Only the tie-break is left: the best any completion can do
                // is to take every warehouse still allowed.
                let mut widest: Vec<u32> =
                    (0..self.p.candidates() as u32).filter(|&c| self.marks[c as usize] != Mark::Excluded).collect();
                widest.sort_unstable();
                preference(&widest, &best.set) == Ordering::Less
            }
        }
    }

    /// A cheap test before descending: a full cover through `c` needs at least
    /// one more warehouse and costs at least `cost + cost(c)`.
    fn worth_including(&self, c: u32) -> bool {
        let Some(best) = &self.best else { return true };
        let count = self.chosen.len() + 1;
        let cost = self.cost + self.p.cost[c as usize];
        (count, cost) <= (best.count(), best.cost)
    }

    /// Lower bounds on the picks and cost still needed to cover every line
    /// from the allowed warehouses; `None` when they cannot.
    fn cover_bound(&self) -> Option<(usize, i64)> {
        let p = self.p;
        let mut needs: Vec<(usize, i64, usize)> = Vec::new(); // (picks, cost, line)
        let mut vals: Vec<u32> = Vec::new();
        let mut costs: Vec<i64> = Vec::new();
        for (i, &r) in self.residual.iter().enumerate() {
            if r == 0 {
                continue;
            }
            vals.clear();
            costs.clear();
            for &c in &p.suppliers[i] {
                if self.marks[c as usize] == Mark::Allowed {
                    vals.push(p.supply(c as usize, i).min(r));
                    costs.push(p.cost[c as usize]);
                }
            }
            vals.sort_unstable_by(|a, b| b.cmp(a));
            let mut sum = 0u64;
            let picks = vals.iter().position(|&v| {
                sum += u64::from(v);
                sum >= u64::from(r)
            })? + 1;
            costs.sort_unstable();
            needs.push((picks, costs[..picks].iter().sum(), i));
        }

        let mut contributions: Vec<u64> = (0..p.candidates())
            .filter(|&c| self.marks[c] == Mark::Allowed)
            .map(|c| self.contribution(c))
            .filter(|&g| g > 0)
            .collect();
        contributions.sort_unstable_by(|a, b| b.cmp(a));
        let total: u64 = self.residual.iter().map(|&r| u64::from(r)).sum();
        let mut sum = 0u64;
        let total_picks = contributions.iter().position(|&g| {
            sum += g;
            sum >= total
        })? + 1;

        // Lines whose remaining suppliers are pairwise disjoint each need their
        // own warehouses.
        needs.sort_unstable_by_key(|&(picks, cost, line)| (Reverse(picks), Reverse(cost), line));
        let mut used = vec![false; p.candidates()];
        let (mut pack_picks, mut pack_cost) = (0usize, 0i64);
        for &(picks, cost, line) in &needs {
            let suppliers = p.suppliers[line].iter().filter(|&&c| self.marks[c as usize] == Mark::Allowed);
            if suppliers.clone().any(|&c| used[c as usize]) {
                continue;
            }
            for &c in suppliers {
                used[c as usize] = true;
            }
            pack_picks += picks;
            pack_cost += cost;
        }

        let max_line = needs.iter().map(|n| n.0).max().unwrap_or(0);
        let max_line_cost = needs.iter().map(|n| n.1).max().unwrap_or(0);
        let picks = max_line.max(total_picks).max(pack_picks);
        let cheapest: i64 = p
            .by_cost
            .iter()
            .filter(|&&c| self.marks[c as usize] == Mark::Allowed && self.contribution(c as usize) > 0)
            .take(picks)
            .map(|&c| p.cost[c as usize])
            .sum();
        Some((picks, cheapest.max(pack_cost).max(max_line_cost)))
    }

    fn cover(&mut self) {
        if !self.tick() {
            return;
        }
        if self.open_lines == 0 {
            self.offer();
            return;
        }
        if self.chosen.len() >= self.cap {
            return;
        }
        let Some((picks, extra_cost)) = self.cover_bound() else {
            return;
        };
        if self.chosen.len() + picks > self.cap || !self.may_improve(picks, extra_cost, self.p.total_target()) {
            return;
        }
        // Branch on the open line with the fewest suppliers left.
        let line = (0..self.p.lines())
            .filter(|&i| self.residual[i] > 0)
            .min_by_key(|&i| {
                let left = self.p.suppliers[i].iter().filter(|&&c| self.marks[c as usize] == Mark::Allowed).count();
                (left, Reverse(self.residual[i]), i)
            })
            .expect("an open line exists");
        let mut branches: Vec<(Reverse<u64>, i64, u32)> = self.p.suppliers[line]
            .iter()
            .filter(|&&c| self.marks[c as usize] == Mark::Allowed)
            .map(|&c| (Reverse(self.contribution(c as usize)), self.p.cost[c as usize], c))
            .collect();
        branches.sort_unstable();
        let mut excluded = Vec::with_capacity(branches.len());
        for (_, _, c) in branches {
            if !self.worth_including(c) {
                // Still excluded below: later siblings must not revisit it.
                self.marks[c as usize] = Mark::Excluded;
                excluded.push(c);
                continue;
            }
            let taken = self.include(c);
            self.cover();
            self.exclude_back(c, &taken);
            self.marks[c as usize] = Mark::Excluded;
            excluded.push(c);
            if self.exhausted {
                break;
            }
        }
        for c in excluded {
            self.marks[c as usize] = Mark::Allowed;
        }
    }

    /// Fewest allowed warehouses whose contributions could add `units` more.
    fn picks_for(&self, units: u64) -> Option<(usize, i64)> {
        if units == 0 {
            return Some((0, 0));
        }
        let mut gains: Vec<u64> = (0..self.p.candidates())
            .filter(|&c| self.marks[c] == Mark::Allowed)
            .map(|c| self.contribution(c))
            .filter(|&g| g > 0)
            .collect();
        gains.sort_unstable_by(|a, b| b.cmp(a));
        let mut sum = 0u64;
        let picks = gains.iter().position(|&g| {
            sum += g;
            sum >= units
        })? + 1;
        let cheapest = self
            .p
            .by_cost
            .iter()
            .filter(|&&c| self.marks[c as usize] == Mark::Allowed && self.contribution(c as usize) > 0)
            .take(picks)
            .map(|&c| self.p.cost[c as usize])
            .sum();
        Some((picks, cheapest))
    }

    /// At the root: the fewest warehouses that could ship `units`.
    fn picks_to_reach(&self, units: u64) -> u32 {
        self.picks_for(units).map_or(0, |(p, _)| p as u32)
    }

    /// Most units `slots` more allowed warehouses could add.
    fn units_bound(&self, slots: usize) -> u64 {
        let p = self.p;
        let mut vals: Vec<u32> = Vec::new();
        let mut per_line = 0u64;
        for (i, &r) in self.residual.iter().enumerate() {
            if r == 0 {
                continue;
            }
            vals.clear();
            vals.extend(
                p.suppliers[i]
                    .iter()
                    .filter(|&&c| self.marks[c as usize] == Mark::Allowed)
                    .map(|&c| p.supply(c as usize, i).min(r)),
            );
            vals.sort_unstable_by(|a, b| b.cmp(a));
            let top: u64 = vals.iter().take(slots).map(|&v| u64::from(v)).sum();
            per_line += top.min(u64::from(r));
        }
        let mut gains: Vec<u64> =
            (0..p.candidates()).filter(|&c| self.marks[c] == Mark::Allowed).map(|c| self.contribution(c)).collect();
        gains.sort_unstable_by(|a, b| b.cmp(a));
        let by_warehouse: u64 = gains.iter().take(slots).sum();
        per_line.min(by_warehouse)
    }

    fn capped(&mut self) {
        if !self.tick() || self.chosen.len() >= self.cap || self.open_lines == 0 {
            return;
        }
        let slots = self.cap - self.chosen.len();
        let reachable = self.units + self.units_bound(slots);
        let best_units = self.best.as_ref().map_or(0, |b| b.units);
        if reachable < best_units || reachable <= self.units {
            return;
        }
        if reachable == best_units {
            // Matching the incumbent's units is the most this node can do;
            // it must also beat it on count, cost or preference.
            let Some((picks, extra_cost)) = self.picks_for(best_units - self.units) else {
                return;
            };
            if !self.may_improve(picks, extra_cost, best_units) {
                return;
            }
        }
        let pick = (0..self.p.candidates())
            .filter(|&c| self.marks[c] == Mark::Allowed)
            .map(|c| (Reverse(self.contribution(c)), self.p.cost[c], c as u32))
            .min();
        let Some((Reverse(gain), _, c)) = pick else {
            return;
        };
        if gain == 0 {
            return;
        }
        let taken = self.include(c);
        self.offer();
        self.capped();
        self.exclude_back(c, &taken);
        self.marks[c as usize] = Mark::Excluded;
        self.capped();
        self.marks[c as usize] = Mark::Allowed;
    }
}
