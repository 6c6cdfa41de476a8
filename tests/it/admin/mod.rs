//! Operating Roster: the admin API, the admin CLI, `roster dev` and start-up.

mod api;
mod cli;
mod startup;
