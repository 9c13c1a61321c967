// The verifier app: device setup, then check a proof by camera, scanner or typing.
import { createI18n } from "../common/i18n.js";
import de from "./strings/de.json";
import en from "./strings/en.json";
import fr from "./strings/fr.json";
import nl from "./strings/nl.json";

const i18n = createI18n({ de, en, fr, nl }, "statuspass.verifier.lang");
i18n.apply();

import { registerServiceWorker } from "../common/pwa.js";

registerServiceWorker();
