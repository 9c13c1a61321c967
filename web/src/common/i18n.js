// Strings in one file per language (strings/<lang>.json beside each app), the browser's
// language first, switchable; the choice is remembered on the device.
export const LANGUAGES = ["nl", "fr", "de", "en"];

const LOCALES = { nl: "nl-BE", fr: "fr-BE", de: "de-BE", en: "en-GB" };

/** The locale dates, numbers and plurals are written in: Belgium's, British English. */
export function localeOf(lang) {
  return LOCALES[lang] ?? "en-GB";
}

/** The first of `wanted` (e.g. navigator.languages) that we speak, else English. */
export function pickLanguage(stored, wanted) {
  if (LANGUAGES.includes(stored)) return stored;
  for (const tag of wanted ?? []) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

/**
 * A translator over `catalogs` ({en: {...}, nl: {...}}). `t(key, vars)` fills `{name}`
 * placeholders; a key missing in a language falls back to English, never to the key.
 */
export function createI18n(catalogs, storageKey) {
  let lang = pickLanguage(readStored(storageKey), navigator.languages);
  const listeners = [];
  const t = (key, vars = {}) => {
    const text = catalogs[lang]?.[key] ?? catalogs.en[key];
    if (text === undefined) throw new Error(`no string ${key}`);
    return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
  };
  const apply = (root = document) => {
    document.documentElement.lang = lang;
    for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    // data-i18n-attr="placeholder:key;aria-label:key2"
    for (const el of root.querySelectorAll("[data-i18n-attr]")) {
      for (const pair of el.dataset.i18nAttr.split(";")) {
        const [attr, key] = pair.split(":");
        el.setAttribute(attr.trim(), t(key.trim()));
      }
    }
  };
  return {
    get lang() {
      return lang;
    },
    t,
    apply,
    set(next) {
      if (!LANGUAGES.includes(next)) return;
      lang = next;
      try {
        localStorage.setItem(storageKey, next);
      } catch {
        // private mode: the choice lasts for this page only
      }
      apply();
      for (const fn of listeners) fn(lang);
    },
    onChange(fn) {
      listeners.push(fn);
    },
  };
}

function readStored(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}
