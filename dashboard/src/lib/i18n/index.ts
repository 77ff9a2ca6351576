import i18n from "i18next";
import { initReactI18next } from "react-i18next";
import en from "./locales/en.json";
import ptBR from "./locales/pt-BR.json";

export const LANGUAGES = ["pt-BR", "en"] as const;
export type Language = (typeof LANGUAGES)[number];
const STORAGE_KEY = "crm.language";

function initialLanguage(): Language {
  const stored = typeof localStorage === "undefined" ? null : localStorage.getItem(STORAGE_KEY);
  return (LANGUAGES as readonly string[]).includes(stored ?? "") ? (stored as Language) : "pt-BR";
}

void i18n.use(initReactI18next).init({
  resources: { "pt-BR": { translation: ptBR }, en: { translation: en } },
  lng: initialLanguage(),
  fallbackLng: "pt-BR",
  interpolation: { escapeValue: false },
  returnNull: false,
});

function syncDocument(language: string): void {
  if (typeof document !== "undefined") document.documentElement.lang = language;
}
syncDocument(i18n.language);
i18n.on("languageChanged", (language) => {
  syncDocument(language);
  if (typeof localStorage !== "undefined") localStorage.setItem(STORAGE_KEY, language);
});

export default i18n;
