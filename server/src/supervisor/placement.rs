//! How many sessions an instance takes or hands on, decided purely from every live
//! instance's load: sessions spread evenly, no instance above its capacity, a draining
//! instance takes none and hands all of its own on. A new session goes to the least
//! loaded instance that serves.
//!
//! Each instance decides for itself from the same table, so no coordinator is needed: one
//! with less than its fair share claims free sessions; one holding at least two more than
//! another hands a session on per round, by a move to the least loaded instance (so that
//! it does not claim its own session back). Each move is a reconnect, so the spread evens
//! out slowly rather than at the cost of a storm.

/// One instance's load, as the instances table shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Load {
    /// Leases it holds.
    pub held: u32,
    /// The most it takes.
    pub capacity: u32,
    /// Whether it is handing its sessions over.
    pub draining: bool,
}

/// What an instance does this round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Free sessions to claim, at most.
    pub claim: u32,
    /// Own sessions to hand on.
    pub shed: u32,
}

/// The plan for `me`, given the other live instances and how many sessions nobody holds.
/// `per_round` bounds the claims of one round (they connect through the bounded restore
/// path anyway, but a round must stay short).
pub fn plan(me: Load, others: &[Load], unheld: u32, per_round: u32) -> Plan {
    if me.draining {
        return Plan { claim: 0, shed: me.held };
    }
    let serving: Vec<Load> = others.iter().copied().filter(|o| !o.draining).chain([me]).collect();
    let total: u64 =
        u64::from(unheld) + others.iter().chain([&me]).map(|l| u64::from(l.held)).sum::<u64>();
    let fair = fair_share(total, &serving);
    let want = fair.min(me.capacity);
    let claim = want.saturating_sub(me.held).min(unheld).min(per_round);
    // Once every session is held, an instance holding at least two more than another that
    // has room hands one on (a difference of one is what rounding leaves): one a round, as
    // each move is a reconnect. Above its capacity, it hands on the excess at once.
    let lighter_elsewhere =
        others.iter().any(|o| !o.draining && o.held + 1 < me.held && o.held < o.capacity);
    let shed = if me.held > me.capacity {
        (me.held - me.capacity).min(per_round)
    } else if unheld == 0 && lighter_elsewhere {
        1
    } else {
        0
    };
    Plan { claim, shed }
}

/// Where a new session goes: `None` for `me`, else the index in `others` of the least
/// loaded instance that serves and has room. `me` keeps it on a tie (no forwarding for
/// nothing), and also when no instance has room anywhere: the session is created rather
/// than refused, and placement hands it on once room appears.
pub fn home(me: Load, others: &[Load]) -> Option<usize> {
    let open = |l: &Load| !l.draining && l.held < l.capacity;
    let lightest = others.iter().enumerate().filter(|(_, l)| open(l)).min_by_key(|(_, l)| l.held);
    match lightest {
        Some((_, other)) if open(&me) && me.held <= other.held => None,
        Some((index, _)) => Some(index),
        None => None,
    }
}

/// The share of `total` sessions each serving instance should hold: even, rounded up,
/// with what full instances cannot take spread over the others.
fn fair_share(total: u64, serving: &[Load]) -> u32 {
    let mut capacities: Vec<u64> = serving.iter().map(|l| u64::from(l.capacity)).collect();
    capacities.sort_unstable();
    let mut left = total;
    let mut count = capacities.len() as u64;
    for capacity in capacities {
        let even = left.div_ceil(count.max(1));
        if capacity >= even {
            return u32::try_from(even).unwrap_or(u32::MAX);
        }
        // This instance fills up; the rest share what it cannot take.
        left -= capacity;
        count -= 1;
    }
    u32::MAX
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn load(held: u32) -> Load {
        Load { held, capacity: 1000, draining: false }
    }

    #[test]
    fn a_lone_instance_takes_every_session_up_to_its_capacity() {
        assert_eq!(plan(load(0), &[], 60, 100), Plan { claim: 60, shed: 0 });
        assert_eq!(plan(load(0), &[], 600, 100), Plan { claim: 100, shed: 0 }, "per round");
        let small = Load { held: 40, capacity: 50, draining: false };
        assert_eq!(plan(small, &[], 60, 100), Plan { claim: 10, shed: 0 });
    }

    #[test]
    fn three_instances_split_sixty_sessions_twenty_each() {
        assert_eq!(plan(load(0), &[load(0), load(0)], 60, 100).claim, 20);
        assert_eq!(plan(load(20), &[load(20), load(0)], 20, 100).claim, 0);
        assert_eq!(plan(load(0), &[load(20), load(20)], 20, 100).claim, 20);
    }

    #[test]
    fn when_an_instance_dies_the_others_take_its_sessions_between_them() {
        // Its 20 leases ran out: they are unheld, and it is no longer live.
        assert_eq!(plan(load(20), &[load(20)], 20, 100).claim, 10);
    }

    #[test]
    fn a_newcomer_gets_sessions_one_move_per_round_from_the_busiest() {
        assert_eq!(plan(load(30), &[load(30), load(0)], 0, 100), Plan { claim: 0, shed: 1 });
        // One above another is rounding, not worth a reconnect…
        assert_eq!(plan(load(21), &[load(20), load(20)], 0, 100).shed, 0);
        // …but three instances each one over the share of a fourth still feed it.
        assert_eq!(plan(load(21), &[load(21), load(21), load(17)], 0, 100).shed, 1);
    }

    #[test]
    fn a_draining_instance_hands_everything_on_and_takes_nothing() {
        let draining = Load { held: 20, capacity: 1000, draining: true };
        assert_eq!(plan(draining, &[load(20), load(20)], 5, 100), Plan { claim: 0, shed: 20 });
        // The others share its sessions as if it were gone.
        assert_eq!(plan(load(20), &[draining, load(20)], 20, 100).claim, 20);
    }

    #[test]
    fn a_new_session_goes_to_the_least_loaded_instance_that_serves() {
        assert_eq!(home(load(3), &[]), None, "alone");
        assert_eq!(home(load(3), &[load(3), load(5)]), None, "a tie stays here");
        assert_eq!(home(load(3), &[load(5), load(1), load(2)]), Some(1));
        let draining = |held| Load { held, capacity: 1000, draining: true };
        assert_eq!(home(draining(0), &[load(9)]), Some(0), "a draining instance creates none");
        assert_eq!(home(load(9), &[draining(0)]), None, "nor is given any");
        let full = |held| Load { held, capacity: held, draining: false };
        assert_eq!(home(full(4), &[load(7)]), Some(0));
        assert_eq!(home(load(4), &[full(1)]), None);
        assert_eq!(home(full(4), &[full(1)]), None, "no room anywhere: created here");
    }

    #[test]
    fn a_full_instance_leaves_the_rest_to_others() {
        let full = Load { held: 10, capacity: 10, draining: false };
        assert_eq!(plan(load(0), &[full], 50, 100).claim, 50);
        assert_eq!(plan(full, &[load(0)], 50, 100).claim, 0);
        // Shrunk below what it holds (restarted with a smaller setting): it sheds the excess.
        let shrunk = Load { held: 15, capacity: 10, draining: false };
        assert_eq!(plan(shrunk, &[load(0)], 0, 100).shed, 5);
    }

    fn loads() -> impl Strategy<Value = Vec<Load>> {
        prop::collection::vec(
            (0u32..200, 1u32..300, prop::bool::weighted(0.2))
                .prop_map(|(held, capacity, draining)| Load { held, capacity, draining }),
            1..6,
        )
    }

    proptest! {
        /// Whatever the table says: no plan takes an instance over its capacity or claims
        /// more than is free, and a draining instance never claims.
        #[test]
        fn plans_stay_within_bounds(all in loads(), unheld in 0u32..500, per_round in 1u32..100) {
            for (i, me) in all.iter().enumerate() {
                let others: Vec<Load> =
                    all.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, l)| *l).collect();
                let p = plan(*me, &others, unheld, per_round);
                prop_assert!(p.claim <= unheld && p.claim <= per_round);
                prop_assert!(me.held + p.claim <= me.capacity.max(me.held));
                prop_assert!(p.shed <= me.held);
                prop_assert!(!(p.claim > 0 && p.shed > 0), "claims and sheds at once: {:?}", p);
                if me.draining {
                    prop_assert_eq!(p, Plan { claim: 0, shed: me.held });
                }
            }
        }

        /// Rounds of plans on a fixed set of sessions settle with every session held and
        /// no instance more than one above another (capacity permitting), from any start.
        #[test]
        fn rounds_settle_evenly(start in prop::collection::vec(0u32..100, 1..5), unheld in 0u32..300) {
            let count = start.len();
            let mut held = start;
            let mut unheld = unheld;
            for _ in 0..400 {
                for i in 0..count {
                    let others: Vec<Load> = (0..count).filter(|j| *j != i).map(|j| load(held[j])).collect();
                    let p = plan(load(held[i]), &others, unheld, 25);
                    held[i] += p.claim;
                    unheld -= p.claim;
                    // A shed session moves to the least loaded other instance.
                    let lightest = (0..count).filter(|j| *j != i).min_by_key(|j| held[*j]);
                    if let (Some(to), true) = (lightest, p.shed > 0) {
                        held[i] -= p.shed;
                        held[to] += p.shed;
                    }
                }
            }
            prop_assert_eq!(unheld, 0);
            let (min, max) = (held.iter().min().unwrap(), held.iter().max().unwrap());
            prop_assert!(max - min <= 1, "{:?}", held);
        }
    }
}
