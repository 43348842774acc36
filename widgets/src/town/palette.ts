// Colours and fonts: a cosy flat town.

export const FONT = '"DejaVu Sans", "Segoe UI", "Helvetica Neue", Arial, sans-serif';
export const MONO = '"DejaVu Sans Mono", Menlo, Consolas, monospace';

export const C = {
  sky: "#8cc07a",
  grass: "#a6cf8a",
  grassDark: "#93c177",
  grassLight: "#b7da9c",
  path: "#ecdcb2",
  pathEdge: "#d7c08e",
  plaza: "#ebe2cf",
  plazaEdge: "#cdbf9f",
  plazaTile: "#ddd2ba",
  stone: "#c3b9a5",
  water: "#7cc4e4",
  waterLight: "#b9e3f4",
  outline: "#4a3b32",
  cream: "#f6ead0",
  creamShade: "#e7d6b3",
  door: "#8a5a3b",
  window: "#a6d7ec",
  windowFrame: "#6b5646",
  treeDark: "#5d9a4c",
  tree: "#72b25c",
  treeLight: "#8cc673",
  trunk: "#7b5a3c",
  wood: "#a2723f",
  woodDark: "#7d5530",
  paper: "#fbf5e4",
  ink: "#3b3330",
  panel: "#1f2433",
  panelText: "#f3f5fb",
  panelMuted: "#aab3cc",
  red: "#e0483e",
  yellow: "#f2c14e",
  green: "#4caf6a",
  blue: "#4f8fe8",
};

/** Roof colour per place; places added at run time pick from EXTRA by hash. */
export const ROOF: Record<string, string> = {
  library: "#b8564b",
  workshop: "#d9873a",
  terminal: "#4b566f",
  observatory: "#5f73b8",
  guildhall: "#8b5ea9",
  embassy: "#3d8c78",
  helpdesk: "#e0a93a",
  questboard: "#9a6b3f",
};
export const EXTRA_ROOFS = ["#c0605e", "#5a9bb0", "#a07c4a", "#6d8f4e", "#b0668f", "#7a6fb5"];

export interface AgentLook {
  coat: string;
  coatDark: string;
  hat: "crown" | "explorer" | "wizard" | "cap" | "beanie";
  hatColour: string;
  label: string; // CSS colour for labels/ticker
}

export const LOOKS: Record<string, AgentLook> = {
  main: { coat: "#d97757", coatDark: "#b95d40", hat: "crown", hatColour: "#f4c542", label: "#ffb089" },
  explore: { coat: "#3aa58f", coatDark: "#2b8472", hat: "explorer", hatColour: "#cfae6c", label: "#7fe0c8" },
  plan: { coat: "#8a6ad0", coatDark: "#6c4fb0", hat: "wizard", hatColour: "#6a4bb8", label: "#c8b4ff" },
  general: { coat: "#4f8fe8", coatDark: "#3a70c4", hat: "cap", hatColour: "#2f5fae", label: "#9cc4ff" },
  other: { coat: "#d0668f", coatDark: "#ad4d73", hat: "beanie", hatColour: "#f0a04b", label: "#ffadc9" },
};

/** Which look an agent gets: the main agent, or its subagent type. */
export function lookKey(kind: string, type: string): keyof typeof LOOKS {
  if (kind === "main") return "main";
  const t = (type || "").toLowerCase();
  if (t === "explore" || t.startsWith("explore")) return "explore";
  if (t === "plan" || t.startsWith("plan")) return "plan";
  if (t === "general-purpose" || t === "general") return "general";
  return "other";
}

export const STATUS_COLOURS: Record<string, [bg: string, fg: string]> = {
  active: ["#3fa46a", "#ffffff"],
  waiting: ["#f2c14e", "#3b3330"],
  idle: ["#7d879c", "#ffffff"],
  ended: ["#4b5366", "#d9deea"],
};
