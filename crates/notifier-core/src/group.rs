//! Bursts: tasks of one job that start close together form a group with
//! one message that counts them. Which group a start belongs to, what the
//! group's message says, and when it may change again. Pure.

use std::time::Duration;

use crate::time::Timestamp;

/// The least time between two changes of one group's message.
/// `chat.update` is Tier 3 (about 50 a minute per workspace): a group
/// changing every 3 s leaves room for a few groups and everything else.
pub const UPDATE_GAP: Duration = Duration::from_secs(3);
/// How long one change of a group's message may take: changes never
/// overlap, so an older count can never land after a newer one.
pub const TURN_LEASE: Duration = Duration::from_secs(10);

/// The task that opened a job's group: the group's message is its start
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub task_id: String,
    /// Its record's key (`task#<task ARN>`).
    pub key: String,
    /// When it started.
    pub started: Timestamp,
}

impl Anchor {
    /// The key of the group's counts.
    pub fn group_key(&self) -> String {
        group_key(&self.key)
    }
}

pub fn group_key(anchor_key: &str) -> String {
    format!("group#{anchor_key}")
}

/// How a start claim treats its job's group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grouping {
    /// Opens a group, unless another of the job's tasks opened one that
    /// started within `window` of this one (then the claim answers
    /// with it, to join). `replacing`: an anchor whose group closed.
    Lead { window: Duration, replacing: Option<String> },
    /// Joins the group `Anchor` opened, while its outcome is not claimed:
    /// an anchor that reported its outcome alone has no group.
    Join(Anchor),
}

/// Whether the job's current anchor keeps a task that started at `started`
/// from opening a group of its own: it belongs in the anchor's.
pub fn must_join(
    current: Option<&Anchor>,
    task_id: &str,
    started: Timestamp,
    window: Duration,
    replacing: Option<&str>,
) -> bool {
    current.is_some_and(|anchor| {
        anchor.task_id != task_id
            && Some(anchor.task_id.as_str()) != replacing
            && anchor.started.duration_since(started).max(started.duration_since(anchor.started)) <= window
    })
}

/// A task's part in its group's counts, as its own record keeps it: what
/// it was counted as, so that counting it again (a retried event, a write
/// applied and then answered 500) changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    Running,
    Succeeded,
    Failed,
}

impl Part {
    pub fn name(self) -> &'static str {
        match self {
            Part::Running => "running",
            Part::Succeeded => "ok",
            Part::Failed => "failed",
        }
    }

    pub fn from_name(name: &str) -> Option<Part> {
        [Part::Running, Part::Succeeded, Part::Failed].into_iter().find(|p| p.name() == name)
    }
}

/// What a task's part becomes when it is counted as `change`: an outcome
/// beats running, and a failure beats a success (a retried completion
/// that read its log differently), so a failure is never hidden. `before`
/// is what its record says; the anchor is in its group from the start.
pub fn next_part(before: Option<Part>, change: Part) -> Part {
    before.map_or(change, |before| before.max(change))
}

/// How a group's counts change when a task's part goes from `before` to
/// `after`: each task is a member once (the anchor always is), and in at
/// most one outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delta {
    pub joined: i64,
    pub succeeded: i64,
    pub failed: i64,
}

pub fn delta(before: Option<Part>, after: Part, anchor: bool) -> Delta {
    let outcome = |part: Option<Part>| match part {
        Some(Part::Succeeded) => (1, 0),
        Some(Part::Failed) => (0, 1),
        _ => (0, 0),
    };
    let (s0, f0) = outcome(before);
    let (s1, f1) = outcome(Some(after));
    Delta { joined: i64::from(before.is_none() && !anchor), succeeded: s1 - s0, failed: f1 - f0 }
}

/// A group's counts, and which of its versions is shown. Counters, not
/// sets: the item stays the same size whatever the group's size, and each
/// task's own record says what it was counted as (`Part`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    /// Tasks counted besides the anchor.
    pub joined: i64,
    pub succeeded: i64,
    pub failed: i64,
    /// Bumped by every change.
    pub version: i64,
    /// The version its message shows (or is being changed to).
    pub shown: i64,
    /// When its message last began or finished changing.
    pub shown_at: Timestamp,
    /// Until when a change under way holds the message.
    pub busy_until: Timestamp,
    /// The waiter's mark: until when it is registered.
    pub waiter_until: Timestamp,
}

/// What a group's message counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub running: usize,
    pub succeeded: usize,
    pub failed: usize,
}

impl Counts {
    pub fn finished(&self) -> bool {
        self.running == 0
    }
}

impl Group {
    /// The anchor and everyone who joined; never fewer than have finished.
    pub fn counts(&self) -> Counts {
        let count = |n: i64| usize::try_from(n).unwrap_or(0);
        let (succeeded, failed) = (count(self.succeeded), count(self.failed));
        let total = (1 + count(self.joined)).max(succeeded + failed);
        Counts { total, running: total - succeeded - failed, succeeded, failed }
    }

    /// The group after `delta`, as the store's `ADD`s leave it.
    pub fn with(&self, delta: Delta) -> Group {
        Group {
            joined: self.joined + delta.joined,
            succeeded: self.succeeded + delta.succeeded,
            failed: self.failed + delta.failed,
            version: self.version + 1,
            ..self.clone()
        }
    }
}

/// Who is seeing to a group's message: a task that changed the counts,
/// or the one task that waits to change it for everyone who came since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Changed the counts to this version.
    Counted(i64),
    /// Registered as the waiter with this mark (`waiter_until`).
    Waiter(Timestamp),
}

/// What to do next about a group's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing: it shows this task's counts, or a later change will.
    Done,
    /// Change it now (take the turn).
    Take,
    /// It cannot change before this time: become the waiter, or, being
    /// it, look again then.
    Wait(Timestamp),
    /// The waiter has nothing left to show: unregister.
    Unregister,
}

/// How often a change under way is looked at again: it usually ends long
/// before its lease.
const BUSY_POLL: Duration = Duration::from_millis(500);

/// Changes never overlap (`busy_until`) and come at least `gap` apart. A
/// task that cannot change the message now leaves it to the one waiter:
/// the waiter's turn shows every count made before it, and any turn
/// taken meanwhile unregisters the waiter, having shown them already. A
/// version being shown counts as shown: should that change fail, its
/// invocation fails too, and its retry shows the latest.
pub fn step(group: &Group, role: Role, now: Timestamp, gap: Duration) -> Step {
    match role {
        Role::Counted(mine) if group.shown >= mine => return Step::Done,
        Role::Waiter(mark) if group.waiter_until != mark => return Step::Done,
        Role::Waiter(_) if group.shown >= group.version => return Step::Unregister,
        _ => {}
    }
    let next = group.shown_at + gap;
    if group.busy_until > now {
        Step::Wait(group.busy_until.min(now + BUSY_POLL).max(next))
    } else if now >= next {
        Step::Take
    } else {
        Step::Wait(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchor(id: &str, started: i64) -> Anchor {
        Anchor { task_id: id.into(), key: format!("task#{id}"), started: Timestamp::from_secs(started) }
    }

    #[test]
    fn a_start_joins_an_anchor_within_the_window_on_either_side() {
        let (t, minute) = (Timestamp::from_secs, Duration::from_secs(60));
        let a = anchor("a", 1000);
        assert!(!must_join(None, "b", t(1000), minute, None), "no group yet: lead");
        assert!(must_join(Some(&a), "b", t(1060), minute, None));
        assert!(must_join(Some(&a), "b", t(940), minute, None), "an earlier start delivered late");
        assert!(!must_join(Some(&a), "b", t(1061), minute, None), "a straggler opens its own");
        assert!(!must_join(Some(&a), "a", t(1000), minute, None), "the anchor's own retry");
        assert!(!must_join(Some(&a), "b", t(1010), minute, Some("a")), "the group closed");
    }

    #[test]
    fn each_task_counts_once_and_a_failure_is_never_hidden() {
        use Part::*;
        assert_eq!(next_part(None, Running), Running);
        assert_eq!(next_part(Some(Running), Succeeded), Succeeded);
        assert_eq!(next_part(Some(Succeeded), Running), Succeeded, "a late start changes nothing");
        assert_eq!(next_part(Some(Succeeded), Failed), Failed, "a retry that found a failure");
        assert_eq!(next_part(Some(Failed), Succeeded), Failed);
        let d = |joined, succeeded, failed| Delta { joined, succeeded, failed };
        assert_eq!(delta(None, Running, false), d(1, 0, 0), "a join");
        assert_eq!(delta(Some(Running), Succeeded, false), d(0, 1, 0));
        assert_eq!(delta(None, Failed, false), d(1, 0, 1), "finished before its join was counted");
        assert_eq!(delta(Some(Succeeded), Failed, false), d(0, -1, 1));
        assert_eq!(delta(None, Succeeded, true), d(0, 1, 0), "the anchor is a member already");
        assert_eq!(delta(Some(Failed), Failed, false), d(0, 0, 0));
    }

    #[test]
    fn counts_count_the_anchor_and_never_fewer_than_finished() {
        let group = Group { joined: 3, succeeded: 1, failed: 1, ..Group::default() };
        assert_eq!(group.counts(), Counts { total: 4, running: 2, succeeded: 1, failed: 1 });
        assert!(!group.counts().finished());
        let done = Group { joined: 1, succeeded: 2, ..Group::default() };
        assert_eq!(done.counts(), Counts { total: 2, running: 0, succeeded: 2, failed: 0 });
        assert!(done.counts().finished());
        let odd = Group { joined: 0, succeeded: 2, failed: 1, ..Group::default() };
        assert_eq!(odd.counts().total, 3, "outcomes counted before their joins");
        let after = group.with(Delta { joined: 0, succeeded: 1, failed: 0 });
        assert_eq!((after.succeeded, after.version), (2, 1));
    }

    #[test]
    fn one_change_per_gap_never_two_at_once() {
        let (gap, ms) = (Duration::from_secs(3), Timestamp::from_millis);
        let group = Group { version: 7, shown: 5, shown_at: ms(10_000), ..Group::default() };
        assert_eq!(
            step(&group, Role::Counted(7), ms(12_000), gap),
            Step::Wait(ms(13_000)),
            "too soon after the last change"
        );
        assert_eq!(step(&group, Role::Counted(7), ms(13_000), gap), Step::Take);
        assert_eq!(step(&group, Role::Counted(5), ms(12_000), gap), Step::Done, "mine is shown");
        assert_eq!(step(&group, Role::Counted(4), ms(20_000), gap), Step::Done, "a later one is shown");
        let fresh = Group { version: 1, ..Group::default() };
        assert_eq!(step(&fresh, Role::Counted(1), ms(1_000_000), gap), Step::Take, "never shown");
        let busy = Group { busy_until: ms(19_000), ..group.clone() };
        assert_eq!(
            step(&busy, Role::Counted(7), ms(14_000), gap),
            Step::Wait(ms(14_500)),
            "a change under way: look again soon"
        );
        assert_eq!(
            step(&busy, Role::Counted(7), ms(18_800), gap),
            Step::Wait(ms(19_000)),
            "until its lease ends at the latest"
        );
        assert_eq!(step(&busy, Role::Counted(7), ms(11_000), gap), Step::Wait(ms(13_000)), "and never before the gap");
        assert_eq!(
            step(&Group { shown: 7, ..busy }, Role::Counted(7), ms(14_000), gap),
            Step::Done,
            "mine is being shown"
        );
    }

    #[test]
    fn the_waiter_shows_everyone_or_learns_a_turn_did() {
        let (gap, ms) = (Duration::from_secs(3), Timestamp::from_millis);
        let waiting =
            Group { version: 9, shown: 5, shown_at: ms(10_000), waiter_until: ms(25_000), ..Group::default() };
        assert_eq!(step(&waiting, Role::Waiter(ms(25_000)), ms(12_000), gap), Step::Wait(ms(13_000)));
        assert_eq!(step(&waiting, Role::Waiter(ms(25_000)), ms(13_000), gap), Step::Take);
        let taken = Group { waiter_until: Timestamp::EPOCH, ..waiting.clone() };
        assert_eq!(
            step(&taken, Role::Waiter(ms(25_000)), ms(13_000), gap),
            Step::Done,
            "a turn since covered everyone"
        );
        let shown = Group { shown: 9, ..waiting };
        assert_eq!(step(&shown, Role::Waiter(ms(25_000)), ms(13_000), gap), Step::Unregister, "nothing left to show");
    }
}
