//! Random telephone survey of applicants (regulation 9.6): the pure, deterministic core.
