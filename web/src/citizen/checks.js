// "Who checked me": every check of my proofs the service recorded, newest first: the
// organisation, when, which right, and what it was told.
import { formatDate, formatDateTime } from "./format.js";

const REASONS = new Set([
  "expired",
  "not_yet_valid",
  "revoked",
  "suspended",
  "bad_signature",
  "unknown_key",
  "malformed",
  "not_permitted",
  "unknown_code",
  "unknown_card",
]);

function node(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

export function renderChecks(list, data, { t, lang, labelOf, empty, since }) {
  list.replaceChildren();
  empty.hidden = data.verifications.length > 0;
  since.hidden = !data.since;
  if (data.since) since.textContent = t("checks_since", { date: formatDate(new Date(data.since), lang) });
  for (const check of data.verifications) {
    const item = node("li", "card check");
    item.append(node("p", "check-org", check.organisation));
    const meta = node("p", "check-meta");
    const when = node("time", "", formatDateTime(new Date(check.at), lang));
    when.dateTime = check.at;
    meta.append(when);
    if (check.type) meta.append(` — ${labelOf(check.type, check.type)}`);
    item.append(meta);
    const valid = check.result === "valid";
    const result = node("p", "result");
    result.dataset.result = valid ? "valid" : "invalid";
    const icon = node("span", "icon", valid ? "✓" : "✕");
    icon.setAttribute("aria-hidden", "true");
    const reason = REASONS.has(check.reason) ? t(`reason_${check.reason}`) : "";
    result.append(icon, node("span", "", valid ? t("check_valid") : t("check_invalid", { reason })));
    item.append(result);
    list.append(item);
  }
}
