//! The lab: a sandbox world and test containers in Docker's network modes.

/// Errors from the lab engine.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The user's input cannot work (bad CIDR, name too long, unsuitable parent...).
    #[error("{0}")]
    Invalid(String),
}

impl LabError {
    /// Whether this error is the user's input (exit code 2) rather than a failure.
    pub fn is_usage(&self) -> bool {
        matches!(self, LabError::Invalid(_))
    }
}
