//! Bounded response bodies: nothing a peer sends can grow the daemon without
//! limit.
//!
//! A server posing as Rancher (or anything between us and AWS) could answer
//! with an endless body or a huge `Content-Length`. Every body the daemon
//! reads therefore has a size limit, checked against `Content-Length` before
//! reading and enforced again while streaming, chunk by chunk, so no more
//! than the limit is ever held. Exceeding it is an ordinary, retryable
//! failure that names the URL and the limit; nothing stored is changed.
//! Time is bounded elsewhere, and covers the whole body too: the Rancher
//! client's request timeout (reqwest applies it until the body is read) and
//! the AWS SDK's operation timeouts (see `ecr.rs`).
//!
//! Where each read happens:
//! - Rancher: [`read_body`], called for every response (`rancher/transport.rs`).
//! - AWS: the SDK reads whole bodies into memory with no size limit of its
//!   own (aws-smithy-runtime's `read_body`), and so do aws-config's
//!   credential providers (IMDS, ECS/EKS container credentials, STS for an
//!   assumed role or web identity). They all send through the one HTTP
//!   client given to the SDK config, so [`LimitedHttpClient`] wraps it and
//!   limits every response body at the source.
//! - The health probe reads at most 4 KiB (`daemon/health.rs`).
//! - Local input: [`read_file`] for the CA bundle, the configuration file
//!   and a secret key file (regular files only: a FIFO or a device could
//!   block or never end), [`read_to_limit`] for the kubelet's stdin.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body_1::{Body, Frame, SizeHint};

/// The largest Rancher answer: a page of 1000 registries (the page size we
/// ask for) is about 1 MB as Rancher 1.6 renders them, with every field,
/// link and action (measured in tests/hostile.rs); the limit leaves room for
/// long descriptions and addresses.
pub const RANCHER_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// The largest AWS answer: GetAuthorizationToken for 10 registries is about
/// 30 KB; STS and IMDS answers are a few KB.
pub const AWS_BODY_LIMIT: usize = 1024 * 1024;

/// A response body larger than its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLarge {
    pub url: String,
    pub limit: usize,
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the response from {} is larger than the {} KiB limit; abandoned",
            self.url,
            self.limit / 1024
        )
    }
}

impl std::error::Error for TooLarge {}

/// Why a reqwest body could not be read.
#[derive(Debug)]
pub enum ReadError {
    TooLarge(TooLarge),
    Transport(reqwest::Error),
}

/// Reads a whole reqwest response body, at most `limit` bytes.
pub async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, ReadError> {
    let too_large = |response: &reqwest::Response| {
        ReadError::TooLarge(TooLarge {
            url: response.url().to_string(),
            limit,
        })
    };
    let declared = response.content_length();
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large(&response));
    }
    // Trust a declared length only as far as the limit.
    let mut body = Vec::with_capacity(declared.unwrap_or(0) as usize);
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(too_large(&response));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Wraps the AWS SDK's HTTP client so that every response body it hands to
/// the SDK stops at [`AWS_BODY_LIMIT`].
#[derive(Debug, Clone)]
pub struct LimitedHttpClient {
    inner: SharedHttpClient,
    limit: usize,
}

impl LimitedHttpClient {
    pub fn wrap(inner: SharedHttpClient, limit: usize) -> SharedHttpClient {
        SharedHttpClient::new(LimitedHttpClient { inner, limit })
    }
}

impl HttpClient for LimitedHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(LimitedConnector {
            inner: self.inner.http_connector(settings, components),
            limit: self.limit,
        })
    }
}

#[derive(Debug)]
struct LimitedConnector {
    inner: SharedHttpConnector,
    limit: usize,
}

impl HttpConnector for LimitedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        // Without its query: a presigned URL would carry credentials there.
        let url = request.uri().split('?').next().unwrap_or("").to_string();
        let limit = self.limit;
        let sent = self.inner.call(request);
        HttpConnectorFuture::new(async move {
            let response = sent.await?;
            let declared = response
                .headers()
                .get("content-length")
                .and_then(|length| length.parse::<u64>().ok());
            let oversized = declared.is_some_and(|length| length > limit as u64);
            Ok(response.map(|body| {
                // A body declared too large is never read: the SDK gets the
                // error at once.
                let (inner, remaining) = if oversized {
                    (SdkBody::empty(), None)
                } else {
                    (body, Some(limit))
                };
                SdkBody::from_body_1_x(LimitedBody {
                    inner,
                    remaining,
                    url: url.clone(),
                    limit,
                })
            }))
        })
    }
}

/// A body that fails once more than `limit` bytes arrive.
struct LimitedBody {
    inner: SdkBody,
    /// Bytes still allowed; `None` once the limit is known to be exceeded.
    remaining: Option<usize>,
    url: String,
    limit: usize,
}

impl LimitedBody {
    fn too_large(&mut self) -> Poll<Option<Result<Frame<Bytes>, aws_smithy_types::body::Error>>> {
        self.remaining = None;
        Poll::Ready(Some(Err(Box::new(TooLarge {
            url: self.url.clone(),
            limit: self.limit,
        }))))
    }
}

impl Body for LimitedBody {
    type Data = Bytes;
    type Error = aws_smithy_types::body::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let Some(remaining) = self.remaining else {
            return self.too_large();
        };
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            other => return other,
        };
        if let Some(data) = frame.data_ref() {
            if data.len() > remaining {
                return self.too_large();
            }
            self.remaining = Some(remaining - data.len());
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining.is_some() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Why local input could not be read; worded by [`FileError::about`],
/// which names the file (or `it`).
#[derive(Debug)]
pub enum FileError {
    Unreadable(std::io::Error),
    NotRegular,
    TooLarge { limit: u64 },
}

impl FileError {
    /// A sentence about `subject`: `cannot read /etc/ca.pem: ...`.
    pub fn about(&self, subject: &str) -> String {
        match self {
            FileError::Unreadable(err) => format!("cannot read {subject}: {err}"),
            FileError::NotRegular => format!("{subject} is not a regular file"),
            FileError::TooLarge { limit } if limit % (1 << 20) == 0 => {
                format!("{subject} is larger than {} MiB", limit >> 20)
            }
            FileError::TooLarge { limit } => format!("{subject} is larger than {limit} bytes"),
        }
    }
}

/// Reads at most `limit` bytes from `reader`; more is an error.
pub fn read_to_limit(reader: impl std::io::Read, limit: u64) -> Result<Vec<u8>, FileError> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(FileError::Unreadable)?;
    if bytes.len() as u64 > limit {
        return Err(FileError::TooLarge { limit });
    }
    Ok(bytes)
}

/// Reads a regular file of at most `limit` bytes.
pub fn read_file(path: &std::path::Path, limit: u64) -> Result<Vec<u8>, FileError> {
    // Asked before opening, which a FIFO would block.
    let metadata = std::fs::metadata(path).map_err(FileError::Unreadable)?;
    if !metadata.is_file() {
        return Err(FileError::NotRegular);
    }
    let file = std::fs::File::open(path).map_err(FileError::Unreadable)?;
    read_to_limit(file, limit)
}
