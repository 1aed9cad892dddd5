//! contactd
