// The API writes its messages in English. Those that follow a known pattern (pydantic's bounds and
// types, the spec's own checks, decision importance's reasons) are shown in the page's language, with
// the numbers and names they quote kept as sent; any other message is shown as the server wrote it.

import { lang, t } from "./i18n.js";

// The hypervolume reference rule (worker/nas/objectives.py REFERENCE_RULE), as a pattern.
const HV_RULE = "the worst value of each objective among the points, moved out by 1% of its range";

// [pattern, catalogue key, names of the captured groups]
const PATTERNS = [
  [/^Input should be greater than or equal to (.+)$/, "srv.ge", ["limit"]],
  [/^Input should be greater than (.+)$/, "srv.gt", ["limit"]],
  [/^Input should be less than or equal to (.+)$/, "srv.le", ["limit"]],
  [/^Input should be less than (.+)$/, "srv.lt", ["limit"]],
  [/^Input should be a valid integer/, "srv.integer", []],
  [/^Input should be a valid number/, "srv.number", []],
  [/^Input should be a valid boolean/, "srv.boolean", []],
  [/^Input should be a valid string/, "srv.string", []],
  [/^Input should be a valid list/, "srv.list", []],
  [/^Input should be a finite number/, "srv.finite", []],
  [/^Input should be (?:'[^']*'(?:, | or )?)+$/, "srv.choice", []],
  [/^Field required$/, "srv.required", []],
  [/^String should have at least (\d+) characters?$/, "srv.min_length", ["n"]],
  [/^String should have at most (\d+) characters?$/, "srv.max_length", ["n"]],
  [/^List should have at least (\d+) items?/, "srv.min_items", ["n"]],
  [/^List should have at most (\d+) items?/, "srv.max_items", ["n"]],
  [/^unknown field '(.+)'$/, "srv.unknown_field", ["name"]],
  [/^(\w+) \(([^)]*)\) must be (<=|<|>=|>) (\w+) \(([^)]*)\)$/, "srv.compare", ["a", "x", "op", "b", "y"]],
  [/^(\w+) must not be empty$/, "srv.not_empty", ["name"]],
  [/^(\w+) must not repeat values; got (.*)$/, "srv.no_repeats", ["name", "got"]],
  [/^(\w+) must lie in (.+); got (.*)$/, "srv.outside", ["name", "range", "got"]],
  [/^unknown (space|strategy) '(.+)'; allowed: .*$/, "srv.unknown_type", ["section", "name"]],
  [/^must be a finite number$/, "srv.finite", []],
  // A searched recipe value (worker/nas/search_domain.py).
  [/^(\w+) cannot be searched: .*$/, "srv.not_searchable", ["name"]],
  [/^a searched value is one of .*$/, "srv.domain_form", []],
  [/^(\w+) does not suit this field; it takes (.*)$/, "srv.domain_unsuited", ["form", "forms"]],
  [/^choices: give two or more distinct values, got (.*)$/, "srv.domain_choices", ["got"]],
  [/^(\w+): expected \[lo, hi\] with lo < hi, got (.*)$/, "srv.domain_range", ["form", "got"]],
  [/^log_uniform: lo must be > 0, got (.*)$/, "srv.domain_log", ["got"]],
  [/^must not contain NUL characters$/, "srv.nul", []],
  [/^not valid YAML or JSON: (.*)$/, "srv.not_yaml", ["problem"]],
  [/^a search spec must be a mapping of fields, got (\w+)$/, "srv.not_mapping", ["got"]],
  [/^needs at least (\d+) finished candidates with a fitness; has (\d+)$/, "srv.importance_min", ["min", "have"]],
  [/^no decision varies among the finished candidates$/, "srv.importance_constant_decisions", []],
  [/^the fitness is the same for every finished candidate$/, "srv.importance_constant_fitness", []],
  [/^the forest found no structure in the fitness$/, "srv.importance_no_structure", []],
  [/^the search's space plugin cannot be loaded by this server$/, "srv.space_unavailable", []],
  [/^decision importance is not available for this space: (.*)$/, "srv.importance_unsupported", ["detail"]],
  [/^a single objective: its curve is the best fitness so far$/, "srv.hv_single", []],
  [/^no feasible finished candidate yet$/, "srv.hv_no_feasible", []],
  [/^given with \?ref=$/, "srv.hv_rule_given", []],
  [new RegExp(`^${HV_RULE}, over every feasible finished candidate$`), "srv.hv_rule_search", []],
  [new RegExp(`^${HV_RULE}, over every feasible finished candidate of the group's searches$`), "srv.hv_rule_group", []],
  [new RegExp(`^${HV_RULE}, over every feasible finished candidate of the compared groups' searches$`), "srv.hv_rule_compare", []],
];

/** `message` in the page's language when it follows a known pattern, else as sent. */
export function serverText(message) {
  const text = String(message ?? "").replace(/^Value error, /, "");
  if (lang === "en") return text; // the server's own words are the English text
  for (const [pattern, key, names] of PATTERNS) {
    const m = text.match(pattern);
    if (!m) continue;
    const params = {};
    names.forEach((name, i) => {
      params[name] = m[i + 1];
    });
    return t(key, params);
  }
  return text;
}

// Names the spaces give to parts of an architecture ("edge 0→1", "layer 2 filters", "node 1", "depth"):
// the structural word is translated, the numbers and genome field names that follow stay as they are.
const NAME_PARTS = [
  [/^edge (\S+)/, "name.edge"],
  [/^node (\S+)/, "name.node"],
  [/^layer (\S+)/, "name.layer"],
  [/^block (\S+)/, "name.block"],
  [/^depth$/, "name.depth"],
  [/^input$/, "name.input"],
  [/^output$/, "name.output"],
  [/^stem channels$/, "name.stem_channels"],
  [/^stem$/, "name.stem"],
];

/** A space's name for a decision or a graph node, in the page's language where its form is known. */
export function nameText(name) {
  const text = String(name ?? "");
  if (lang === "en") return text;
  for (const [pattern, key] of NAME_PARTS) {
    const m = text.match(pattern);
    if (m) return t(key, { n: m[1] }) + text.slice(m[0].length);
  }
  return text;
}
