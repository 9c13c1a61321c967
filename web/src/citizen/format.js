// Dates, times and durations in the reader's language (Intl), on the device's time zone.
import { localeOf } from "../common/i18n.js";

export function formatDate(date, lang) {
  return new Intl.DateTimeFormat(localeOf(lang), { dateStyle: "long" }).format(date);
}

export function formatDateTime(date, lang) {
  return new Intl.DateTimeFormat(localeOf(lang), { dateStyle: "medium", timeStyle: "short" }).format(
    date,
  );
}

export function formatClock(date, lang) {
  return new Intl.DateTimeFormat(localeOf(lang), { timeStyle: "medium" }).format(date);
}

/** "4:05" for 4 minutes 5 seconds (rounded down: never more time shown than is left). */
export function formatDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}` : `${minutes}:${seconds}`;
}
