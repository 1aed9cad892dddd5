//! Domain newtypes of contactd: each one parses its input once, at the edge, so the rest of the
//! daemon holds only values that are known to be well formed ("parse, don't validate").
//!
//! Every type has a `parse` that returns a [`thiserror`] error saying what was wrong and which
//! format is expected, implements `FromStr`, `Display` and serde (deserialization goes through
//! `parse`, so a bad value in the database or in an API body is an error, not a silent default).

mod email;
mod executor_code;
mod extension;
mod login;
mod phone;
mod request_number;

pub use email::{EmailAddress, EmailAddressError};
pub use executor_code::{ExecutorCode, ExecutorCodeError};
pub use extension::{Extension, ExtensionError};
pub use login::{Login, LoginError};
pub use phone::{CallerNumber, PhoneNumber, PhoneNumberError};
pub use request_number::{RequestNumber, RequestNumberError};

/// Implements `FromStr`, `TryFrom<String>`, `TryFrom<&str>`, `Serialize` (as the canonical string)
/// and `Deserialize` (through `parse`) for a newtype with `fn parse(&str) -> Result<Self, E>` and
/// `fn as_str(&self) -> &str`.
macro_rules! string_newtype {
    ($ty:ty, $err:ty) => {
        impl ::std::str::FromStr for $ty {
            type Err = $err;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$ty>::parse(s)
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = $err;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                <$ty>::parse(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = $err;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                <$ty>::parse(&s)
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                let raw = <::std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                <$ty>::parse(&raw).map_err(::serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use string_newtype;
