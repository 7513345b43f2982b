import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { ActorTradingView } from "./ActorTradingView.jsx";
import "./styles.css";

createRoot(document.getElementById("root")).render(
  <StrictMode>
    <ActorTradingView />
  </StrictMode>,
);
