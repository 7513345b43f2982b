// ActorTradingView: the actor's live trading view (header, P&L, positions, activity, market detail),
// fed by useActorWebSocket. Everything shown comes from the actor's event stream; nothing is stored.

import { useCallback, useState } from "react";
import { useActorWebSocket } from "./useActorWebSocket.js";
import { Header } from "./components/Header.jsx";
import { PnlPanel } from "./components/PnlPanel.jsx";
import { PositionsTable } from "./components/PositionsTable.jsx";
import { ActivityLog } from "./components/ActivityLog.jsx";
import { MarketDetail } from "./components/MarketDetail.jsx";
import { ModelPanel } from "./components/ModelPanel.jsx";

export function ActorTradingView(props) {
  const state = useActorWebSocket(props);
  const [selected, setSelected] = useState(null);
  const close = useCallback(() => setSelected(null), []);
  return (
    <div className={`app conn-${state.connection.status}`} data-testid="app" data-seq={state.lastSeq ?? ""}>
      <Header state={state} />
      <main className="grid">
        <PnlPanel pnl={state.pnl} series={state.pnlSeries} />
        <PositionsTable positions={state.positions} onSelect={setSelected} selected={selected} />
        <ActivityLog state={state} onSelect={setSelected} />
        <ModelPanel model={state.model} pnl={state.pnl} />
      </main>
      {selected && <MarketDetail ticker={selected} state={state} onClose={close} />}
    </div>
  );
}
