//! The REST API: logins, menus, customers and service records.

use frontdesk_protocol::ErrorCode;
use frontdesk_protocol::rest::{
    CustomerInfo, CustomerUpdate, CustomersImported, LoginRequest, LoginResponse, MenuImported,
    ServiceRecord,
};

use crate::{ClientError, Result, http_url};

/// The REST API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl ApiClient {
    /// A client for the server at `base` (any form [`http_url`] takes).
    ///
    /// # Errors
    /// [`ClientError::Url`] when the URL is bad.
    pub fn new(base: &str) -> Result<Self> {
        Ok(Self {
            base: http_url(base)?,
            http: reqwest::Client::new(),
            token: None,
        })
    }

    /// Uses `token` for authenticated calls.
    #[must_use]
    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    /// Logs in and keeps the token.
    ///
    /// # Errors
    /// [`ClientError::Server`] with `unauthorized` on a wrong password.
    pub async fn login(&mut self, username: &str, password: &str) -> Result<LoginResponse> {
        let login: LoginResponse = Self::call(
            self.http
                .post(format!("{}/api/login", self.base))
                .json(&LoginRequest {
                    username: username.into(),
                    password: password.into(),
                }),
        )
        .await?;
        self.token = Some(login.token.clone());
        Ok(login)
    }

    /// A request to `path`, with the token if there is one.
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let rb = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::GET, path)
    }

    /// A POST of `body` as `content_type`.
    fn post(&self, path: &str, content_type: &str, body: &str) -> reqwest::RequestBuilder {
        self.with_body(reqwest::Method::POST, path, content_type, body)
    }

    /// A request carrying `body` as `content_type`.
    fn with_body(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> reqwest::RequestBuilder {
        self.request(method, path)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body.to_owned())
    }

    /// Sends a request; answers the status and the body as JSON (`null` when it
    /// is not JSON), whatever the status.
    async fn status_and_json(rb: reqwest::RequestBuilder) -> Result<(u16, serde_json::Value)> {
        let resp = rb.send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().await.unwrap_or_default()))
    }

    /// Sends a request and reads the answer as `T`, or the server's error.
    async fn call<T: serde::de::DeserializeOwned>(rb: reqwest::RequestBuilder) -> Result<T> {
        let resp = rb.send().await?;
        if resp.status().is_success() {
            return Ok(resp.json().await?);
        }
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        let code = serde_json::from_value(body["error"].clone()).unwrap_or(ErrorCode::Internal);
        let mut message = body["message"]
            .as_str()
            .map_or_else(|| status.to_string(), str::to_owned);
        // A file that failed validation: its problems, one a line, like the CLI.
        let problems: Vec<frontdesk_protocol::Problem> =
            serde_json::from_value(body["problems"].clone()).unwrap_or_default();
        for p in problems {
            message.push_str("\n  ");
            message.push_str(&p.to_string());
        }
        Err(ClientError::Server { code, message })
    }

    /// A consultation's service record.
    ///
    /// # Errors
    /// [`ClientError::Server`] with `not_found` or `unauthorized`.
    pub async fn service_record(&self, consultation: &str) -> Result<ServiceRecord> {
        Self::call(self.get(&format!("/api/consultations/{consultation}"))).await
    }

    /// Imports a menu file.
    ///
    /// # Errors
    /// [`ClientError::Server`] with `invalid_menu` and the problems in the message.
    pub async fn import_menu(&self, toml: &str) -> Result<MenuImported> {
        Self::call(self.post("/api/menus", "application/toml", toml)).await
    }

    /// Imports customers from a CSV file (`docs/tiers.md`).
    ///
    /// # Errors
    /// [`ClientError::Server`] with `invalid_request` and every bad row in the message.
    pub async fn import_customers(&self, csv: &str) -> Result<CustomersImported> {
        Self::call(self.post("/api/customers/import", "text/csv", csv)).await
    }

    /// One customer and their tier, by phone number.
    ///
    /// # Errors
    /// [`ClientError::Server`] with `not_found` when there is no such customer.
    pub async fn customer(&self, phone: &str) -> Result<CustomerInfo> {
        Self::call(self.get(&format!("/api/customers/{}", encode(phone)))).await
    }

    /// Customers, optionally of one tier, by phone number.
    ///
    /// # Errors
    /// [`ClientError::Server`] with `invalid_request` for an unknown tier.
    pub async fn customers(&self, tier: Option<&str>, limit: u32) -> Result<Vec<CustomerInfo>> {
        let mut rb = self
            .get("/api/customers")
            .query(&[("limit", limit.to_string())]);
        if let Some(t) = tier {
            rb = rb.query(&[("tier", t)]);
        }
        Self::call(rb).await
    }

    /// Creates or replaces a customer's facts; answers the customer with their new tier.
    ///
    /// # Errors
    /// [`ClientError::Server`] with `invalid_request` and every problem in the message.
    pub async fn update_customer(
        &self,
        phone: &str,
        update: &CustomerUpdate,
    ) -> Result<CustomerInfo> {
        let path = format!("/api/customers/{}", encode(phone));
        Self::call(self.request(reqwest::Method::PUT, &path).json(update)).await
    }

    /// Any PUT with a raw body, returning the status and the body as JSON.
    ///
    /// # Errors
    /// When the request fails to be sent.
    pub async fn put_raw(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> Result<(u16, serde_json::Value)> {
        Self::status_and_json(self.with_body(reqwest::Method::PUT, path, content_type, body)).await
    }

    /// Any POST with a raw body, returning the status and the body as JSON.
    ///
    /// # Errors
    /// When the request fails to be sent.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> Result<(u16, serde_json::Value)> {
        Self::status_and_json(self.post(path, content_type, body)).await
    }

    /// Any GET, returning the status and the body as text (e.g. `/metrics`).
    ///
    /// # Errors
    /// When the request fails to be sent.
    pub async fn get_text(&self, path: &str) -> Result<(u16, String)> {
        let resp = self.get(path).send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await?))
    }

    /// Any GET, returning the status and the body as JSON (for tests and tools).
    ///
    /// # Errors
    /// When the request fails to be sent.
    pub async fn get_json(&self, path: &str) -> Result<(u16, serde_json::Value)> {
        Self::status_and_json(self.get(path)).await
    }
}

/// A phone number as one path segment: `+`, spaces and brackets are escaped.
fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        // form encoding writes a space as `+`; in a path that would be a literal `+`.
        .replace('+', "%20")
}
