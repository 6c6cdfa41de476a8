//! The ranking API (`/v1/groups/{groupId}/…`, `/v1/jobs/{jobId}`) end to end, on both queue
//! backends.

mod guard;
mod idempotency;
mod jobs;
mod reads;
mod writes;
