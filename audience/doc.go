// Package audience decides who a campaign surveys: a filter expression over
// a contact's fields, attributes and tags, a per-account-and-role cap, and the
// rolling slice of a sampled campaign. It is pure: no I/O, no package state.
//
// # Filter expressions
//
// A marketer writes, for example:
//
//	role in (decision_maker, operator) and account.tier = KA and not tags has churned
//	(locale = zh-CN or locale = zh-TW) and email exists
//
// Parse compiles the text once; Filter.Match is then a plain predicate.
// The empty expression (or only white space) matches every contact.
//
// Grammar (EBNF; keywords are case-insensitive):
//
//	expr       = and_expr { "or" and_expr } .
//	and_expr   = unary { "and" unary } .
//	unary      = "not" unary | "(" expr ")" | comparison .
//	comparison = field ( ( "=" | "!=" | "has" | "starts_with" | "contains" ) value
//	                   | [ "not" ] "in" "(" value { "," value } ")"
//	                   | [ "not" ] "exists" ) .
//	field      = word | dquoted .
//	value      = word | squoted | dquoted .
//	word       = wordchar { wordchar } .   (wordchar is A-Z a-z 0-9 _ . @ + : -)
//	squoted    = "'" { char | "\'" | "\\" | "\"" } "'" .
//	dquoted    = '"' { char | "\"" | "\\" | "\'" } '"' .
//
// So "not" binds tighter than "and", and "and" binds tighter than "or":
// "not a = 1 and b = 2 or c = 3" is "((not a = 1) and b = 2) or c = 3".
// The keywords are and, or, not, in, has, exists, starts_with and contains;
// a value that is one of them must be quoted ('in'), and a field name that is
// one of them must be double-quoted ("in") or written attributes.in.
// Space, tab, CR and LF separate tokens. A value with other characters (a
// space, a slash, non-ASCII letters) is quoted: time_zone = 'Asia/Shanghai'.
// The only escapes in quoted text are \', \" and \\.
//
// # Fields
//
//	external_id name email phone locale time_zone account role   the contact's own fields
//	tags                                                        the contact's tags
//	attributes.X                                                attribute X
//	account.X                                                   attribute X as well
//	X                                                           attribute X, for any other name
//
// account.X reads attribute X: a contact has one flat attribute map, and B2B
// users keep account facts in it, so "account.tier = KA" is the attribute
// "tier". Field names and the attributes./account. prefixes are
// case-insensitive; attribute names are not (Tier and tier are different
// attributes). A name is split at its first dot, so attributes.utm.source is
// the attribute "utm.source"; any other dotted name (attribute.tier,
// email.domain) is an error rather than a filter that silently matches no one.
// A double-quoted name is read the same way as a bare one, which allows any
// attribute key: "attributes.plan type", "attributes.and".
//
// A bare name that is not a field is an attribute: a misspelt field
// (timezone for time_zone) reads an attribute that is probably not there.
//
// # Comparisons
//
//	field = v, field != v            exact string equality
//	field in (v1, v2), not in (...)  equality with any / none of the values (at most 1000)
//	field exists, not exists         the field is non-empty
//	field starts_with v, contains v  case-insensitive prefix / substring
//	tags has v                       one of the tags is exactly v
//	tags in (...), tags not in (...) some tag / no tag is in the list
//	tags exists, tags not exists     the contact has a tag / has none
//
// A missing attribute reads as the empty string, so "tier != KA" holds for a
// contact with no tier, and so does
//
//	tier = ''
//
// Locale comparisons ignore case
// (zh-cn = zh-CN); every other =, != and in compares exactly. Values are
// strings: there is no numeric comparison. tags takes only has, in, not in,
// exists and not exists; has takes only tags. A contact's opt-out is not part
// of the filter: the send gate suppresses opted-out contacts with a reason.
//
// # Canonical form
//
// Filter.String is the canonical text: keywords in lower case, one space
// between tokens, attributes written attributes.X, values quoted only when
// they must be (with single quotes), parentheses only where precedence needs
// them, and chains of and/or flattened. It parses back to the same filter
// and the same text, so it is what a campaign should store.
//
// # Limits
//
// An expression, and its canonical form, are at most MaxLength bytes;
// parentheses and "not" nest at most MaxDepth deep together; an in-list has
// at most MaxListItems values. Exceeding one is a *SyntaxError like any other.
//
// # Errors
//
// Every parse error is a *SyntaxError whose Pos is the 1-based column
// (counted in characters) where the problem is, and whose Msg says what was
// expected and what was found: `column 21: expected a value after "=", found
// end of expression`.
package audience
