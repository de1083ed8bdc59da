//! `/api/v1/openapi.json`: the OpenAPI 3.1 document, generated from the role
//! table (every route, its method, summary and role), the request bodies'
//! and answers' types (`utoipa::ToSchema`, derived in the library crates
//! under their `openapi` feature) and the query structs (`IntoParams`),
//! never written by hand. A unit test keeps every route of the table typed.

use super::auth::{Access, ROUTES};
use super::{ops, read, runs, select, write};
use axum::Json;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem, PathsBuilder, Ref, RefOr,
    Required, ResponseBuilder,
};
use utoipa::{IntoParams, ToSchema};
use weir_catalog as cat;
use weir_ops as ops_;

/// A schema, and the named schemas it refers to (for the components).
struct Typed {
    schema: RefOr<Schema>,
    needs: Vec<(String, RefOr<Schema>)>,
}

fn one<T: ToSchema>() -> Typed {
    let mut needs = vec![(T::name().into_owned(), T::schema())];
    T::schemas(&mut needs);
    Typed {
        schema: Ref::from_schema_name(T::name()).into(),
        needs,
    }
}

fn list<T: ToSchema>() -> Typed {
    let Typed { needs, .. } = one::<T>();
    Typed {
        schema: ArrayBuilder::new()
            .items(Ref::from_schema_name(T::name()))
            .build()
            .into(),
        needs,
    }
}

fn text() -> Typed {
    Typed {
        schema: ObjectBuilder::new().schema_type(SchemaType::Type(Type::String)).into(),
        needs: Vec::new(),
    }
}

/// The request body of a route, if it takes one.
fn body_of(path: &str) -> Option<Typed> {
    Some(match path {
        "/api/v1/session" => one::<write::SessionBody>(),
        "/api/v1/envs/{env}/pause" | "/api/v1/envs/{env}/resume" => one::<write::PauseBody>(),
        "/api/v1/envs/{env}/revert" => one::<write::RevertBody>(),
        "/api/v1/envs/{env}/pin" => one::<write::PinBody>(),
        "/api/v1/envs/{env}/unpin" => one::<write::UnpinBody>(),
        "/api/v1/envs/{env}/promote" => one::<write::PromoteBody>(),
        "/api/v1/envs/{env}/deploy" => one::<ops::DeployBody>(),
        "/api/v1/envs/{env}/invalidate" => one::<ops::InvalidateBody>(),
        "/api/v1/envs/{env}/accept" => one::<ops::AcceptBody>(),
        "/api/v1/envs/{env}/restore" => one::<ops::RestoreBody>(),
        "/api/v1/sql" => one::<ops::SqlBody>(),
        "/api/v1/envs/{env}/selectors/{selector}/split" => one::<select::SplitBody>(),
        // JSON lines, or one JSON array of events.
        "/ingest/{stream}" => text(),
        _ => return None,
    })
}

/// A route's successful answer: its status and, by content type, its schema.
fn answer_of(method: &str, path: &str) -> Option<(&'static str, Vec<(&'static str, Typed)>)> {
    const JSON: &str = "application/json";
    let json = |t: Typed| Some(("200", vec![(JSON, t)]));
    match (method, path) {
        ("GET", "/healthz") => json(one::<read::Health>()),
        ("POST", "/ingest/{stream}") => json(one::<super::ingest::IngestReply>()),
        ("POST", "/api/v1/session") => json(one::<write::SessionReply>()),
        ("GET", "/api/v1/session") => json(one::<write::SessionInfo>()),
        ("DELETE", "/api/v1/session") => Some(("204", Vec::new())),
        ("GET", "/metrics") => Some(("200", vec![("text/plain", text())])),
        ("GET", "/api/v1/openapi.json") => json(Typed {
            schema: ObjectBuilder::new().schema_type(SchemaType::Type(Type::Object)).into(),
            needs: Vec::new(),
        }),
        ("GET", "/api/v1/project") => json(one::<read::ProjectInfo>()),
        ("GET", "/api/v1/envs/{env}/status") => json(list::<weir_sched::DatasetStatus>()),
        ("GET", "/api/v1/envs/{env}/datasets") => json(list::<ops_::datasets::DatasetInfo>()),
        ("GET", "/api/v1/envs/{env}/deployments") => json(list::<read::DeploymentInfo>()),
        ("GET", "/api/v1/envs/{env}/aliases") => json(list::<cat::Alias>()),
        ("GET", "/api/v1/envs/{env}/grid") => json(one::<ops_::grid::Grid>()),
        ("GET", "/api/v1/envs/{env}/aliases/{dataset}/history") => json(list::<cat::AliasMove>()),
        ("GET", "/api/v1/envs/{env}/datasets/{dataset}/counters") => json(one::<ops_::inspect::CounterSeries>()),
        ("GET", "/api/v1/diff") => json(list::<ops_::diff::DatasetDiff>()),
        ("POST", "/api/v1/sql") => Some((
            "200",
            vec![
                (JSON, one::<ops::SqlRows>()),
                ("application/vnd.apache.arrow.stream", text()),
            ],
        )),
        // Each event's data is a Change (its `kind` is the event's name).
        ("GET", "/api/v1/events") => Some(("200", vec![("text/event-stream", one::<cat::Change>())])),
        ("GET", "/api/v1/runs") => json(one::<runs::RunsPage>()),
        ("GET", "/api/v1/runs/{run_id}") => json(one::<cat::RunRecord>()),
        ("GET", "/api/v1/runs/{run_id}/log") => Some(("200", vec![("text/plain", text())])),
        ("GET", "/api/v1/audit") => json(one::<read::AuditPage>()),
        ("GET", "/api/v1/tokens") => json(list::<cat::TokenRecord>()),
        ("GET", "/api/v1/envs/{env}/plan") => json(one::<ops_::inspect::PlanReport>()),
        ("GET", "/api/v1/envs/{env}/datasets/{dataset}/instance") => json(one::<ops_::inspect::InstanceReport>()),
        ("GET", "/api/v1/envs/{env}/trash") => json(list::<ops_::invalidate::TrashEntry>()),
        ("POST", "/api/v1/envs/{env}/invalidate") => json(one::<ops_::invalidate::InvalidateReport>()),
        ("POST", "/api/v1/envs/{env}/accept") => json(one::<ops_::aliases::AcceptReport>()),
        ("POST", "/api/v1/envs/{env}/restore") => json(one::<ops_::invalidate::RestoreReport>()),
        ("POST", "/api/v1/envs/{env}/deploy") => json(one::<ops_::deploy::DeployReport>()),
        ("POST", "/api/v1/envs/{env}/runs") => Some(("202", vec![(JSON, one::<write::RunRequested>())])),
        ("POST", "/api/v1/envs/{env}/pause" | "/api/v1/envs/{env}/resume") => json(one::<ops_::control::PauseReport>()),
        ("POST", "/api/v1/envs/{env}/revert" | "/api/v1/envs/{env}/pin" | "/api/v1/envs/{env}/unpin") => {
            json(one::<ops_::aliases::AliasReport>())
        }
        ("POST", "/api/v1/runs/{run_id}/cancel") => json(one::<ops_::control::CancelReport>()),
        ("POST", "/api/v1/envs/{env}/promote") => json(one::<ops_::aliases::PromoteReport>()),
        ("GET", "/api/v1/select/{selector}") => Some((
            "200",
            vec![
                (JSON, one::<ops_::selectors::Selection>()),
                ("application/octet-stream", text()),
            ],
        )),
        ("GET", "/api/v1/envs/{env}/selectors") => json(list::<ops_::selectors::SelectorState>()),
        ("GET", "/api/v1/envs/{env}/selectors/{selector}") => json(one::<ops_::selectors::SelectorReport>()),
        ("GET", "/api/v1/envs/{env}/selectors/{selector}/measures") => {
            json(one::<ops_::selectors::measures::Measures>())
        }
        ("POST", "/api/v1/envs/{env}/selectors/{selector}/split") => json(one::<ops_::selectors::SplitReport>()),
        _ => None,
    }
}

/// A route's query parameters (filters, pages, zoom).
fn query_of(path: &str) -> Vec<Parameter> {
    let q = || Some(ParameterIn::Query);
    match path {
        "/api/v1/envs/{env}/status" => read::StatusQuery::into_params(q),
        "/api/v1/envs/{env}/grid" => read::GridQuery::into_params(q),
        "/api/v1/events" => read::EventsQuery::into_params(q),
        "/api/v1/audit" => read::AuditQuery::into_params(q),
        "/api/v1/runs" => runs::RunsQuery::into_params(q),
        "/api/v1/runs/{run_id}/log" => runs::LogQuery::into_params(q),
        "/api/v1/envs/{env}/plan" => ops::PlanQuery::into_params(q),
        "/api/v1/envs/{env}/datasets/{dataset}/instance" => ops::InstanceQuery::into_params(q),
        "/api/v1/envs/{env}/datasets/{dataset}/counters" => ops::CountersQuery::into_params(q),
        "/api/v1/diff" => ops::DiffQuery::into_params(q),
        "/api/v1/select/{selector}" => select::SelectQuery::into_params(q),
        "/api/v1/envs/{env}/selectors/{selector}/measures" => select::MeasuresQuery::into_params(q),
        _ => Vec::new(),
    }
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
    let mut needs = one::<Error>().needs;
    let mut paths = PathsBuilder::new();
    for r in ROUTES {
        let method = match r.method {
            "GET" => HttpMethod::Get,
            "POST" => HttpMethod::Post,
            "DELETE" => HttpMethod::Delete,
            _ => continue,
        };
        let (status, contents) = answer_of(r.method, r.path).unwrap_or(("200", vec![("application/json", text())]));
        let mut ok = ResponseBuilder::new().description(match status {
            "202" => "Accepted",
            "204" => "No Content",
            _ => "OK",
        });
        for (kind, t) in contents {
            ok = ok.content(kind, ContentBuilder::new().schema(Some(t.schema)).build());
            needs.extend(t.needs);
        }
        let error = ResponseBuilder::new()
            .description("An error: its code, message and hint")
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(Error::name())))
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
            .response(status, ok)
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
        for p in query_of(r.path) {
            op = op.parameter(p);
        }
        if let Some(body) = body_of(r.path) {
            needs.extend(body.needs);
            // Events are JSON lines (or a JSON array); everything else JSON.
            let kind = if r.path.starts_with("/ingest/") {
                "application/x-ndjson"
            } else {
                "application/json"
            };
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(kind, ContentBuilder::new().schema(Some(body.schema)).build())
                    .build(),
            ));
        }
        paths = paths.path(r.path, PathItem::new(method, op.build()));
    }
    // Each named schema once (the same type is needed by many routes).
    let mut seen = std::collections::BTreeSet::new();
    for (name, schema) in needs {
        if seen.insert(name.clone()) {
            components = components.schema(name, schema);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_a_typed_answer_and_every_json_answer_a_named_schema() {
        for r in ROUTES {
            let (_, contents) =
                answer_of(r.method, r.path).unwrap_or_else(|| panic!("{} {} has no answer", r.method, r.path));
            for (kind, t) in contents {
                if kind == "application/json" && r.path != "/api/v1/openapi.json" {
                    assert!(!t.needs.is_empty(), "{} {}: an untyped JSON answer", r.method, r.path);
                }
            }
        }
    }

    #[test]
    fn the_document_names_every_schema_it_refers_to() {
        let doc = serde_json::to_value(document()).expect("json");
        let text = doc.to_string();
        let names = doc["components"]["schemas"].as_object().expect("schemas");
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part.chars().take_while(|c| *c != '"').collect();
            assert!(names.contains_key(&name), "a reference to the missing schema {name}");
        }
        assert!(
            names.contains_key("GridCell") && names.contains_key("CheckStatus"),
            "renamed, not colliding"
        );
    }
}
