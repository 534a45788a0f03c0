//! The two status machines (02 §5.1) and the strict route → transition mapping: each
//! lifecycle route makes exactly one move, from the statuses it names.

use crate::db::tickets::{Kind, Source, Status};
use crate::domain::{DomainError, DomainResult};

impl Kind {
    /// The statuses this kind's machine may move to from `from` (02 §5.3), sorted.
    pub fn legal(self, from: Status) -> &'static [Status] {
        use Status::*;
        match (self, from) {
            (Kind::Task, Suggested) => &[Cancelled, Open],
            (Kind::Task, Open) => &[Cancelled, InProgress],
            (Kind::Task, InProgress) => &[Blocked, Review],
            (Kind::Task, Blocked) => &[InProgress],
            (Kind::Task, Review) => &[Done, Open],
            (Kind::Issue, Open) => &[Cancelled, InProgress],
            (Kind::Issue, InProgress) => &[Cancelled, Closed, Open],
            _ => &[],
        }
    }

    /// The status a new ticket of this kind starts in.
    pub(super) fn initial(self, source: Source, reader: bool) -> Status {
        match self {
            Kind::Issue => Status::Open,
            Kind::Task if source == Source::Agent || reader => Status::Suggested,
            Kind::Task => Status::Open,
        }
    }
}

/// The contract's 400 for a move the machine does not allow.
pub fn illegal(from: Status, to: Status, kind: Kind) -> DomainError {
    DomainError::Malformed(format!(
        "Cannot transition from '{}' to '{}'. Legal transitions from '{}': {}.",
        from.as_str(),
        to.as_str(),
        from.as_str(),
        legal_listing(kind, from)
    ))
}

/// The sorted legal next statuses, or "(none — terminal state)".
fn legal_listing(kind: Kind, from: Status) -> String {
    let legal = kind.legal(from);
    if legal.is_empty() {
        return "(none — terminal state)".to_string();
    }
    legal
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A lifecycle route (02 §5.1) and the one move it makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    Approve,
    Start { force: bool },
    Block,
    Unblock,
    Complete,
    Accept,
    Reopen,
    Dismiss,
    Close,
}

/// What a non-editor (a reader through captured sessions) must be to act (02 §5.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReaderRule {
    Never,
    Creator,
    CreatorOrResolver,
    CreatorNotResolver,
}

impl Move {
    pub const ALL: [Move; 10] = [
        Move::Approve,
        Move::Start { force: false },
        Move::Start { force: true },
        Move::Block,
        Move::Unblock,
        Move::Complete,
        Move::Accept,
        Move::Reopen,
        Move::Dismiss,
        Move::Close,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Move::Approve => "approve",
            Move::Start { .. } => "start",
            Move::Block => "block",
            Move::Unblock => "unblock",
            Move::Complete => "complete",
            Move::Accept => "accept",
            Move::Reopen => "reopen",
            Move::Dismiss => "dismiss",
            Move::Close => "close",
        }
    }

    /// Where the move goes.
    pub fn target(self, kind: Kind) -> Status {
        match self {
            Move::Approve => Status::Open,
            Move::Start { .. } | Move::Unblock => Status::InProgress,
            Move::Block => Status::Blocked,
            Move::Complete => Status::Review,
            Move::Accept => Status::Done,
            Move::Reopen => Status::Open,
            Move::Dismiss => Status::Cancelled,
            Move::Close if kind == Kind::Issue => Status::Closed,
            Move::Close => Status::Done,
        }
    }

    /// The statuses this route moves from, for a ticket of `kind` (the strict mapping).
    pub fn sources(self, kind: Kind) -> &'static [Status] {
        use Status::*;
        match (self, kind) {
            (Move::Approve, Kind::Task) => &[Suggested],
            (Move::Start { force: true }, Kind::Task) => &[Open, Blocked],
            (Move::Start { .. }, _) => &[Open],
            (Move::Block, Kind::Task) => &[InProgress],
            (Move::Unblock, Kind::Task) => &[Blocked],
            (Move::Complete, Kind::Task) => &[InProgress],
            (Move::Accept, Kind::Task) => &[Review],
            (Move::Reopen, Kind::Task) => &[Review],
            (Move::Reopen, Kind::Issue) => &[InProgress],
            (Move::Dismiss, Kind::Task) => &[Suggested, Open],
            (Move::Dismiss, Kind::Issue) => &[Open, InProgress],
            (Move::Close, Kind::Issue) => &[InProgress],
            _ => &[],
        }
    }

    pub(super) fn reader_rule(self) -> ReaderRule {
        match self {
            Move::Approve | Move::Close => ReaderRule::Never,
            Move::Dismiss | Move::Reopen => ReaderRule::Creator,
            Move::Start { .. } | Move::Complete | Move::Block | Move::Unblock => {
                ReaderRule::CreatorOrResolver
            }
            Move::Accept => ReaderRule::CreatorNotResolver,
        }
    }

    /// `Ok` when this route may move a `kind` ticket out of `from`; else the route's refusal:
    /// 409 for `start` and `accept` (02 §5.6), the machine's 400 for the others.
    pub fn check(self, kind: Kind, from: Status) -> DomainResult<Status> {
        let to = self.target(kind);
        if self.sources(kind).contains(&from) {
            return Ok(to);
        }
        match self {
            Move::Start { force } => {
                let expected = if force && kind == Kind::Task {
                    "['blocked', 'open']"
                } else {
                    "['open']"
                };
                Err(DomainError::Conflict(format!(
                    "Cannot start ticket: current status is '{}', expected one of {expected}. \
                     Another agent may hold it; `force=true` recovers a blocked task.",
                    from.as_str()
                )))
            }
            Move::Accept => Err(DomainError::Conflict(format!(
                "Cannot accept ticket: current status is '{}', expected 'review'. \
                 Legal transitions from '{}': {}.",
                from.as_str(),
                from.as_str(),
                legal_listing(kind, from)
            ))),
            _ => Err(illegal(from, to, kind)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn illegal_moves_name_the_sorted_legal_list() {
        let err = illegal(Status::Open, Status::Review, Kind::Task).to_string();
        assert_eq!(
            err,
            "Cannot transition from 'open' to 'review'. Legal transitions from 'open': \
             cancelled, in_progress."
        );
        let err = illegal(Status::Done, Status::Open, Kind::Task).to_string();
        assert!(err.ends_with("Legal transitions from 'done': (none — terminal state)."));
    }

    #[test]
    fn every_route_move_is_a_machine_move() {
        for mv in Move::ALL {
            for kind in [Kind::Task, Kind::Issue] {
                for from in mv.sources(kind) {
                    assert!(
                        kind.legal(*from).contains(&mv.target(kind)),
                        "{mv:?} {kind:?} {from:?}"
                    );
                }
            }
        }
        for kind in [Kind::Task, Kind::Issue] {
            for s in Status::ALL {
                let mut legal = kind.legal(*s).to_vec();
                let sorted = {
                    let mut v = legal.clone();
                    v.sort_by_key(|s| s.as_str());
                    v
                };
                assert_eq!(legal, sorted, "{kind:?} {s:?} sorted");
                legal.dedup();
            }
        }
    }
}
