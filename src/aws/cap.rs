//! The one response cap: every answer stsexec reads — an SDK client's or a plain request's —
//! is cut off at [`MAX_RESPONSE_BYTES`] before it is held in memory, so a hostile endpoint's
//! endless body cannot fill it. The cut is a typed error ([`TooLarge`]) that the failure
//! classification finds by downcasting.
#![forbid(unsafe_code)]

use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use std::fmt;

/// The largest answer read. STS, IAM and token answers are a few KiB.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// An answer that declared (or grew to) more than [`MAX_RESPONSE_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the answer is larger than {} KiB",
            MAX_RESPONSE_BYTES / 1024
        )
    }
}

impl std::error::Error for TooLarge {}

/// Caps every response body before an SDK client reads it (each client built by the layer
/// carries it).
#[derive(Debug)]
pub(crate) struct ResponseCap;

impl Intercept for ResponseCap {
    fn name(&self) -> &'static str {
        "stsexec::ResponseCap"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let response = context.response_mut();
        let declared = response
            .headers()
            .get("content-length")
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|len| len > MAX_RESPONSE_BYTES) {
            return Err(Box::new(TooLarge));
        }
        let body = std::mem::replace(response.body_mut(), SdkBody::taken());
        *response.body_mut() = SdkBody::from_body_1_x(capped(body));
        Ok(())
    }
}

/// A body that fails with [`http_body_util::LengthLimitError`] past the cap (the plain
/// requests' bodies and the SDK's alike).
pub(crate) fn capped<B>(body: B) -> http_body_util::Limited<B> {
    http_body_util::Limited::new(body, MAX_RESPONSE_BYTES)
}
