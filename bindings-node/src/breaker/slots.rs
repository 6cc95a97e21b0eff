//! The permits of a breaker's calls between `begin` and `end`, by token.
//!
//! A token is a JS number: `((generation << 24 | slot) << 1 | trial)`, below 2^53. The generation
//! changes each time a slot is reused, so a stale token (the loser of a timeout race, or any
//! repeated `end`) finds nothing. The low bit tells the helper whether the permit is a half-open
//! trial, whose permit it moves into a garbage-collected external while the call is pending (see
//! `guarded`).
//!
//! A closed-state call whose thenable never settles and is abandoned keeps its slot (one permit)
//! until the breaker is dropped: a `timeout` ends such calls.

use crate::error::Result;
use dashfeed::breaker::OwnedPermit;
use dashfeed::Error;

/// Slots at most (pending calls at once).
const MAX_SLOTS: usize = 1 << 24;
const SLOT_MASK: u64 = (1 << 24) - 1;
const GEN_MASK: u64 = (1 << 20) - 1;

/// One slot: its generation and its permit, if taken by a call.
#[derive(Debug)]
struct Slot {
    gen: u64,
    permit: Option<OwnedPermit>,
}

/// The slots and the free list.
#[derive(Debug, Default)]
pub struct Slots {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

impl Slots {
    /// Stores `permit`; returns its token.
    pub fn insert(&mut self, permit: OwnedPermit) -> Result<f64> {
        let trial = permit.is_trial() as u64;
        let i = match self.free.pop() {
            Some(i) => i as usize,
            None if self.slots.len() < MAX_SLOTS => {
                self.slots.push(Slot {
                    gen: 0,
                    permit: None,
                });
                self.slots.len() - 1
            }
            None => {
                let what = "pending breaker calls";
                return Err(Error::TooLarge {
                    what,
                    limit: MAX_SLOTS,
                }
                .into());
            }
        };
        let slot = &mut self.slots[i];
        slot.gen = (slot.gen + 1) & GEN_MASK;
        slot.permit = Some(permit);
        Ok(((((slot.gen << 24) | i as u64) << 1) | trial) as f64)
    }

    /// Takes the permit of `token`; `None` if the token is stale or not a token.
    pub fn take(&mut self, token: f64) -> Option<OwnedPermit> {
        if !(token >= 0.0 && token.fract() == 0.0 && token < (1u64 << 53) as f64) {
            return None;
        }
        let t = token as u64 >> 1;
        let (gen, i) = ((t >> 24) & GEN_MASK, (t & SLOT_MASK) as usize);
        let slot = self.slots.get_mut(i)?;
        if slot.gen != gen {
            return None;
        }
        let permit = slot.permit.take()?;
        self.free.push(i as u32);
        Some(permit)
    }
}
