//! The fault rules both simulators keep: installed in order, the first matching rule fires (one
//! per request), a rule with `times` runs out. Each simulator has its own rule and action types
//! ([`roblox::FaultRule`](crate::roblox::FaultRule), [`discord::FaultRule`](crate::discord::FaultRule)).

/// A fault rule: what it matches and what it does.
pub(crate) trait Rule {
    /// What a request matched (the Roblox endpoint, the Discord route).
    type Operation: Copy + PartialEq;
    /// What happens to a matching request.
    type Action: Clone;
    /// Only requests to this operation (`None` matches anything).
    fn operation(&self) -> Option<Self::Operation>;
    /// Only requests with this HTTP method (case-insensitive).
    fn method(&self) -> Option<&str>;
    /// Only requests whose path (with query) contains this text.
    fn path_contains(&self) -> Option<&str>;
    /// What happens to a matching request.
    fn action(&self) -> &Self::Action;
    /// How many matching requests the rule fires for; `None` = until cleared.
    fn times(&self) -> Option<u32>;
}

struct ActiveRule<R> {
    id: u64,
    rule: R,
    fired: u32,
}

/// The installed rules.
pub(crate) struct Faults<R> {
    next_id: u64,
    rules: Vec<ActiveRule<R>>,
}

impl<R> Default for Faults<R> {
    fn default() -> Self {
        Self {
            next_id: 0,
            rules: Vec::new(),
        }
    }
}

impl<R: Rule> Faults<R> {
    pub(crate) fn add(&mut self, rule: R) -> u64 {
        self.next_id += 1;
        if rule.times() == Some(0) {
            // A rule that may fire zero times never fires.
            return self.next_id;
        }
        self.rules.push(ActiveRule {
            id: self.next_id,
            rule,
            fired: 0,
        });
        self.next_id
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    /// Fires the first matching rule, if any, using up one of its `times`.
    pub(crate) fn fire(
        &mut self,
        operation: R::Operation,
        method: &str,
        path: &str,
    ) -> Option<(u64, R::Action)> {
        if self.rules.is_empty() {
            return None;
        }
        let index = self.rules.iter().position(|active| {
            let rule = &active.rule;
            rule.operation().is_none_or(|o| o == operation)
                && rule.method().is_none_or(|m| m.eq_ignore_ascii_case(method))
                && rule.path_contains().is_none_or(|p| path.contains(p))
        })?;
        let active = &mut self.rules[index];
        active.fired += 1;
        let fired = (active.id, active.rule.action().clone());
        if active
            .rule
            .times()
            .is_some_and(|times| active.fired >= times)
        {
            self.rules.remove(index);
        }
        Some(fired)
    }
}
