//! `/api/v1/openapi.json`: the OpenAPI 3.1 document, generated from the role
//! table (every route, its method, summary and role) and the request bodies'
//! types (`utoipa::ToSchema`), never written by hand.

use super::auth::{Access, ROUTES};
use super::{ops, write};
use axum::Json;
use utoipa::ToSchema;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem, PathsBuilder, Ref, RefOr,
    Required, ResponseBuilder,
};

fn schema_of<T: ToSchema>() -> (String, RefOr<Schema>) {
    (T::name().into_owned(), T::schema())
}

/// The request body of a route, if it takes one.
fn body_of(path: &str) -> Option<(String, RefOr<Schema>)> {
    Some(match path {
        "/api/v1/session" => schema_of::<write::SessionBody>(),
        "/api/v1/envs/{env}/pause" | "/api/v1/envs/{env}/resume" => schema_of::<write::PauseBody>(),
        "/api/v1/envs/{env}/revert" => schema_of::<write::RevertBody>(),
        "/api/v1/envs/{env}/pin" => schema_of::<write::PinBody>(),
        "/api/v1/envs/{env}/unpin" => schema_of::<write::UnpinBody>(),
        "/api/v1/envs/{env}/promote" => schema_of::<write::PromoteBody>(),
        "/api/v1/envs/{env}/deploy" => schema_of::<ops::DeployBody>(),
        "/api/v1/envs/{env}/invalidate" => schema_of::<ops::InvalidateBody>(),
        "/api/v1/envs/{env}/accept" => schema_of::<ops::AcceptBody>(),
        "/api/v1/envs/{env}/restore" => schema_of::<ops::RestoreBody>(),
        "/api/v1/sql" => schema_of::<ops::SqlBody>(),
        _ => return None,
    })
}

/// The error body every route answers with when it fails.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct Error {
    error: ErrorDetail,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct ErrorDetail {
    /// A stable code: `bad_request`, `unauthenticated`, `forbidden`, `not_found`, …
    code: String,
    message: String,
    /// What to do about it.
    hint: String,
}

/// Builds the document.
pub fn document() -> OpenApi {
    let mut components = ComponentsBuilder::new()
        .security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)))
        .security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(super::auth::SESSION_COOKIE))),
        );
    let (ename, eschema) = schema_of::<Error>();
    let (dname, dschema) = schema_of::<ErrorDetail>();
    components = components.schema(ename.clone(), eschema).schema(dname, dschema);
    let mut paths = PathsBuilder::new();
    for r in ROUTES {
        let method = match r.method {
            "GET" => HttpMethod::Get,
            "POST" => HttpMethod::Post,
            _ => continue,
        };
        let text = r.path.ends_with("/log") || r.path == "/metrics" || r.path == "/api/v1/events";
        let kind = if r.path == "/api/v1/events" {
            "text/event-stream"
        } else if text {
            "text/plain"
        } else {
            "application/json"
        };
        let ok = ResponseBuilder::new().description("OK").content(
            kind,
            ContentBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(SchemaType::Type(if text {
                    Type::String
                } else {
                    Type::Object
                }))))
                .build(),
        );
        let error = ResponseBuilder::new()
            .description("An error: its code, message and hint")
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(ename.clone())))
                    .build(),
            )
            .build();
        let role = match r.access {
            Access::Open => "open: no token".to_string(),
            Access::Role(role) => format!("role: {}", role.as_str()),
        };
        let mut op = OperationBuilder::new()
            .summary(Some(r.summary))
            .description(Some(role))
            .operation_id(Some(format!(
                "{}_{}",
                r.method.to_lowercase(),
                r.path.trim_start_matches('/').replace(['/', '{', '}', '.'], "_")
            )))
            .response("200", ok)
            .response("4XX", error.clone())
            .response("5XX", error);
        if let Access::Role(_) = r.access {
            op = op
                .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
                .security(SecurityRequirement::new("session", Vec::<String>::new()));
        }
        for seg in r.path.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                op = op.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(Some(ObjectBuilder::new().schema_type(SchemaType::Type(Type::String)))),
                );
            }
        }
        if let Some((name, schema)) = body_of(r.path) {
            components = components.schema(name.clone(), schema);
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(
                        "application/json",
                        ContentBuilder::new().schema(Some(Ref::from_schema_name(name))).build(),
                    )
                    .build(),
            ));
        }
        paths = paths.path(r.path, PathItem::new(method, op.build()));
    }
    // Paths with two methods are merged by the builder.
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("weir")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The weir platform's API. Roles: viewer ⊂ operator ⊂ admin; ingest apart.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .build()
}

pub async fn serve() -> Json<OpenApi> {
    Json(document())
}
