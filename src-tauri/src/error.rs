//! The error every command rejects with: `{ kind, message }`, where `kind`
//! is stable for code and `message` is a sentence for the user.

use herald_core::controller::ControllerError;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UiError {
    pub kind: &'static str,
    pub message: String,
}

impl UiError {
    pub fn invalid(message: impl Into<String>) -> UiError {
        UiError {
            kind: "invalid",
            message: message.into(),
        }
    }

    pub fn internal(message: impl std::fmt::Display) -> UiError {
        UiError {
            kind: "internal",
            message: message.to_string(),
        }
    }
}

impl From<ControllerError> for UiError {
    fn from(e: ControllerError) -> UiError {
        UiError {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

impl From<tauri::Error> for UiError {
    fn from(e: tauri::Error) -> UiError {
        UiError::internal(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::api::ApiError;

    #[test]
    fn serialises_as_kind_and_message() {
        let e = UiError::from(ControllerError::Api(ApiError::BadCredentials));
        let json = serde_json::to_value(&e).expect("serialisable");
        assert_eq!(
            json,
            serde_json::json!({ "kind": "badCredentials", "message": "wrong email or password" })
        );
    }
}
