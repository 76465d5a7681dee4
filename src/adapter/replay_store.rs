//! DPoP replay stores in the Worker: the isolate's bounded cache, or a Durable Object shared by every
//! isolate, sharded by key thumbprint (one object per client key).

use std::cell::RefCell;

use serde::Deserialize;
use worker::{
    durable_object, DurableObject, Env, Method, Request, RequestInit, Response, Result,
    ScheduledTime, SqlStorage, State,
};

use crate::state::replay::{entry_id, ReplayCache, ReplayError, ReplayStore};

/// Name of the Durable Object namespace binding in wrangler.toml.
pub const BINDING: &str = "DPOP_REPLAY";

/// The store a request uses, per `DPOP_REPLAY_STORE`.
pub enum WorkerReplayStore<'a> {
    Isolate(&'a RefCell<ReplayCache>),
    DurableObject(&'a Env),
}

impl ReplayStore for WorkerReplayStore<'_> {
    async fn check_and_record(
        &self,
        jkt: &str,
        jti: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<(), ReplayError> {
        match self {
            Self::Isolate(cache) => cache.check_and_record(jkt, jti, expires_at, now).await,
            Self::DurableObject(env) => record_in_durable_object(env, jkt, jti, expires_at).await,
        }
    }
}

/// Asks the key's Durable Object to record the proof; any failure fails closed.
async fn record_in_durable_object(
    env: &Env,
    jkt: &str,
    jti: &str,
    expires_at: u64,
) -> Result<(), ReplayError> {
    let ask = async {
        let stub = env.durable_object(BINDING)?.id_from_name(jkt)?.get_stub()?;
        let body = serde_json::json!({ "id": hex(&entry_id(jkt, jti)), "expires": expires_at });
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_body(Some(body.to_string().into()));
        let request = Request::new_with_init("https://replay-guard/record", &init)?;
        let response = stub.fetch_with_request(request).await?;
        Ok::<u16, worker::Error>(response.status_code())
    };
    match ask.await {
        Ok(201) => Ok(()),
        Ok(409) => Err(ReplayError::Replayed),
        _ => Err(ReplayError::Unavailable),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Deserialize)]
struct RecordRequest {
    id: String,
    expires: u64,
}

/// One Durable Object per client key: records (jkt, jti) ids until they expire. Check and insert are
/// synchronous SQLite calls with no await between them, so two concurrent requests with the same proof
/// cannot both pass.
#[durable_object]
pub struct ReplayGuard {
    state: State,
    sql: SqlStorage,
}

impl DurableObject for ReplayGuard {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        // A failure here resurfaces on the first query, which then answers 500 (fail closed).
        let _ = sql.exec(
            "CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, expires INTEGER NOT NULL)",
            None,
        );
        let _ = sql.exec(
            "CREATE INDEX IF NOT EXISTS seen_expires ON seen (expires)",
            None,
        );
        Self { state, sql }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let Ok(record) = req.json::<RecordRequest>().await else {
            return Response::error("bad record request", 400);
        };
        let now = now_secs();
        let expires = i64::try_from(record.expires)
            .unwrap_or(i64::MAX)
            .min(1 << 52);
        #[derive(Deserialize)]
        struct Row {
            expires: i64,
        }
        let seen: Vec<Row> = self
            .sql
            .exec(
                "SELECT expires FROM seen WHERE id = ?",
                vec![record.id.as_str().into()],
            )?
            .to_array()?;
        if seen.iter().any(|row| row.expires > now) {
            return Response::error("replayed", 409);
        }
        self.sql.exec(
            "INSERT OR REPLACE INTO seen (id, expires) VALUES (?, ?)",
            vec![record.id.as_str().into(), expires.into()],
        )?;
        // Expired rows are removed by the alarm, so storage holds only live proofs.
        let storage = self.state.storage();
        if storage.get_alarm().await?.is_none() {
            storage.set_alarm(at(expires)).await?;
        }
        Ok(Response::empty()?.with_status(201))
    }

    async fn alarm(&self) -> Result<Response> {
        let now = now_secs();
        self.sql
            .exec("DELETE FROM seen WHERE expires <= ?", vec![now.into()])?;
        #[derive(Deserialize)]
        struct Next {
            next: Option<i64>,
        }
        let next: Next = self
            .sql
            .exec("SELECT MIN(expires) AS next FROM seen", None)?
            .one()?;
        if let Some(next) = next.next {
            self.state.storage().set_alarm(at(next)).await?;
        }
        Response::empty()
    }
}

/// An alarm time at `epoch_secs` (an `i64` alone would be read as an offset).
fn at(epoch_secs: i64) -> ScheduledTime {
    ScheduledTime::new(js_sys::Date::new(&js_sys::Number::from(
        epoch_secs as f64 * 1000.0,
    )))
}

fn now_secs() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}
