// ModelPanel: the serving model's action shares live against its evaluation's, and the evaluation's verdict
// against each baseline: a live policy should trade the way it was judged to.

const VERDICT_TONE = { better: "good", worse: "bad", "not distinguishable": "muted", "too few sessions": "muted" };

const pct = (share) => (share === undefined || share === null ? "–" : `${(100 * share).toFixed(0)}%`);

export function actionRows(live = {}, evaluated = {}) {
  const names = [...new Set([...Object.keys(evaluated), ...Object.keys(live)])];
  return names.map((name) => ({ name, live: live[name], evaluated: evaluated[name],
    drift: live[name] !== undefined && evaluated[name] !== undefined ? live[name] - evaluated[name] : null }));
}

export function ModelPanel({ model, pnl }) {
  const evaluation = model?.evaluation;
  const rows = actionRows(pnl?.action_shares, evaluation?.action_shares);
  const verdicts = Object.entries(evaluation?.verdicts ?? {});
  return (
    <section className="card model-panel" data-testid="model-panel" aria-label="model">
      <h2>Model vs its evaluation</h2>
      {rows.length === 0 ? <p className="muted">no decisions yet</p> : (
        <table className="actions-table">
          <thead><tr><th>action</th><th>live</th><th>evaluated</th></tr></thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.name} data-testid="action-share" data-action={r.name}
                  className={r.drift !== null && Math.abs(r.drift) > 0.1 ? "drift" : ""}>
                <td>{r.name.toLowerCase()}</td><td>{pct(r.live)}</td><td>{pct(r.evaluated)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {evaluation ? (
        <ul className="verdicts" data-testid="verdicts">
          {verdicts.map(([baseline, v]) => (
            <li key={baseline} className={`tone-${VERDICT_TONE[v.verdict] ?? "muted"}`}>
              vs {baseline}: <strong>{v.verdict}</strong>
              {v.mean !== null && v.mean !== undefined ? ` (${v.mean >= 0 ? "+" : ""}${v.mean.toFixed(3)} $/episode)` : ""}
            </li>
          ))}
        </ul>
      ) : <p className="muted" data-testid="no-evaluation">this model was stored without an evaluation</p>}
    </section>
  );
}
