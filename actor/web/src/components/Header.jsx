// The header: who, where (environment), whether the view is live, the actor's exchange link,
// its risk state and its model. Fixed-size pills: a state change never moves the layout.

import { clock } from "../format.js";

const CONNECTION_TEXT = { connecting: "connecting", live: "live", reconnecting: "reconnecting", lost: "lost" };

function Pill({ label, value, tone, testid, title }) {
  return (
    <div className={`pill tone-${tone}`} data-testid={testid} data-state={value} title={title}>
      <span className="pill-label">{label}</span>
      <span className="pill-value">{value}</span>
    </div>
  );
}

// The actor's last status message ("snapshot" only says where the status came from).
function statusText(status) {
  if (!status) return "";
  if (status.message && status.message !== "snapshot") return status.message;
  return status.trading ? "trading" : "starting";
}

export function riskOf(status) {
  if (!status) return "unknown";
  if (status.paused) return "PAUSED";
  return status.risk_state ?? "unknown";
}

const RISK_TONE = { ACTIVE: "good", REDUCING: "warn", HALTED: "bad", PAUSED: "warn", unknown: "muted" };
const CONNECTION_TONE = { live: "good", connecting: "muted", reconnecting: "warn", lost: "bad" };

export function Header({ state }) {
  const { status, model, connection } = state;
  const environment = status?.environment ?? "unknown";
  const production = environment === "production";
  const live = connection.status === "live";
  const exchange = !status ? "unknown" : status.connected ? "connected" : "disconnected";
  const risk = riskOf(status);
  const active = model?.active;
  const reload = model?.last_reload;
  return (
    <header className={`header${production ? " is-production" : ""}`}>
      {production && (
        <div className="production-banner" data-testid="production-banner" role="alert">
          PRODUCTION · real money on Kalshi
        </div>
      )}
      <div className="header-row">
        <div className="identity">
          <h1 className="actor-name" data-testid="actor-name">{status?.name ?? "actor"}</h1>
          <span className={`env env-${environment}`} data-testid="environment" data-state={environment}>
            {environment}
          </span>
        </div>
        <div className="pills">
          <Pill label="view" value={CONNECTION_TEXT[connection.status]} tone={CONNECTION_TONE[connection.status]}
                testid="connection"
                title={connection.reason ? `last close: ${connection.reason}` : "connection to the actor"} />
          <Pill label="exchange" value={exchange}
                tone={!live ? "muted" : exchange === "connected" ? "good" : "bad"} testid="exchange" />
          <Pill label="risk" value={risk} tone={live ? RISK_TONE[risk] ?? "muted" : "muted"} testid="risk" />
        </div>
      </div>
      <div className="model-row" data-testid="model">
        <span className="model-label">model</span>
        <span className="model-id" data-testid="model-id">{active?.id ?? "none loaded"}</span>
        <span className="model-meta">{active ? active.algorithm : ""}</span>
        <span className="model-meta">{active?.loaded_at_ms ? `loaded ${clock(active.loaded_at_ms)}` : ""}</span>
        <span className={`model-reload ${reload ? (reload.ok ? "ok" : "failed") : ""}`} data-testid="model-reload"
              title={reload?.message ?? ""}>
          {reload ? (reload.ok ? `reload ok (${reload.model_id})` : `reload failed: ${reload.message}`) : ""}
        </span>
        <span className="status-message" data-testid="status-message">
          {connection.status !== "live" ? connection.reason ?? "" : statusText(status)}
        </span>
      </div>
    </header>
  );
}
