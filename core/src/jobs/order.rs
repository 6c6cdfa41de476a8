//! Per-subject ordering, the control plane's side: a job takes its turns on its subjects in the
//! transaction that accepts it ([`assign_in`]), and the recorder notes them finished
//! ([`finished_in`]). What a turn is and how subjects are named: `roster_jobs::jobs::order`,
//! re-exported here.

pub use roster_jobs::jobs::order::*;

use crate::store::{StoreError, Tree, Txn, TxnExt};

/// The turns of a job on the `subjects` it changes (see [`subjects_of`]), taken inside the
/// accepting transaction. An operator's retry of a dead job takes new ones: it is accepted anew,
/// after everything accepted before it.
pub fn assign_in(
    tx: &dyn Txn,
    subjects: impl IntoIterator<Item = String, IntoIter: ExactSizeIterator>,
) -> Result<Vec<Turn>, StoreError> {
    let subjects = subjects.into_iter();
    let mut turns = Vec::with_capacity(subjects.len());
    for subject in subjects {
        let mut state: SubjectState = tx
            .get_json(Tree::Subjects, subject.as_bytes())?
            .unwrap_or_default();
        // Everything before this job is final when the counters say so.
        let floor = if state.busy() {
            state.finished
        } else {
            state.last
        };
        state.last += 1;
        tx.put_json(Tree::Subjects, subject.as_bytes(), &state)?;
        turns.push(Turn {
            subject,
            seq: state.last,
            floor,
        });
    }
    Ok(turns)
}

/// Notes, inside the recorder's transaction, that a job with these turns is final.
pub fn finished_in(tx: &dyn Txn, turns: &[Turn]) -> Result<(), StoreError> {
    for t in turns {
        let mut state: SubjectState = tx
            .get_json(Tree::Subjects, t.subject.as_bytes())?
            .unwrap_or_default();
        if t.seq > state.finished {
            state.finished = t.seq;
            tx.put_json(Tree::Subjects, t.subject.as_bytes(), &state)?;
        }
    }
    Ok(())
}
