// "My rights": each right with its label in the reader's language, whether it can be
// shown now, until when, and a way to show it. Suspended and revoked rights say so in
// plain words, never why (the service does not tell the app why either).
import { formatDate } from "./format.js";

const ICONS = { valid: "✓", pending: "◷", ended: "✕", suspended: "⏸", revoked: "✕" };

/** What a right's status means now: valid, pending, ended, suspended or revoked. */
export function stateOf(right, now) {
  if (right.status === "suspended") return "suspended";
  if (right.status === "revoked") return "revoked";
  if (right.current) return "valid";
  return new Date(right.valid_from).getTime() > now ? "pending" : "ended";
}

function node(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

export function renderRights(list, rights, { t, lang, labelOf }) {
  const now = Date.now();
  list.replaceChildren();
  const sorted = [...rights].sort((a, b) =>
    labelOf(a.type, a.label).localeCompare(labelOf(b.type, b.label), lang),
  );
  for (const right of sorted) {
    const state = stateOf(right, now);
    const item = node("li", "card right");
    item.dataset.state = state;
    item.dataset.type = right.type;
    const headingId = `right-${right.type}`;
    const heading = node("h3", "", labelOf(right.type, right.label));
    heading.id = headingId;
    item.append(heading);

    const status = node("p", "status");
    status.dataset.state = state;
    status.append(node("span", "icon", ICONS[state]));
    status.firstChild.setAttribute("aria-hidden", "true");
    const dates = {
      from: formatDate(new Date(right.valid_from), lang),
      until: formatDate(new Date(right.valid_until), lang),
    };
    status.append(node("span", "", t(`right_${state}`, dates)));
    item.append(status);

    if (right.attributes?.card_number) {
      item.append(node("p", "attr", t("card_number", { number: right.attributes.card_number })));
    }
    if (state === "valid") {
      const link = node("a", "button primary");
      link.href = `#proof/${encodeURIComponent(right.type)}`;
      link.append(node("span", "", t("show_proof")));
      link.append(node("span", "visually-hidden", ` — ${labelOf(right.type, right.label)}`));
      item.append(link);
    }
    list.append(item);
  }
}
