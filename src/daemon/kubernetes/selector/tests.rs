//! Tests of the label selector grammar, case by case as Kubernetes reads it.

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn selector(text: &str) -> LabelSelector {
    LabelSelector::parse(text).unwrap_or_else(|err| panic!("{text}: {err}"))
}

#[test]
fn every_operator() {
    let team_a = labels(&[("team", "a"), ("env", "prod")]);
    let team_c = labels(&[("team", "c")]);
    let none = labels(&[]);
    let cases: [(&str, [bool; 3]); 14] = [
        ("team=a", [true, false, false]),
        ("team==a", [true, false, false]),
        ("team!=a", [false, true, true]),
        ("team in (a,b)", [true, false, false]),
        ("team notin (a,b)", [false, true, true]),
        ("team", [true, true, false]),
        ("!team", [false, false, true]),
        ("!env", [false, true, true]),
        ("team in (a,b),!legacy", [true, false, false]),
        ("team,env=prod", [true, false, false]),
        ("team=", [false, false, false]),
        ("team in ()", [false, false, false]),
        ("", [true, true, true]),
        ("  ", [true, true, true]),
    ];
    for (text, expected) in cases {
        let parsed = selector(text);
        let got = [&team_a, &team_c, &none].map(|l| parsed.matches(l));
        assert_eq!(got, expected, "{text}");
    }
    assert!(selector("team=").matches(&labels(&[("team", "")])));
    assert!(selector("team in (a,)").matches(&labels(&[("team", "")])));
}

#[test]
fn blanks_are_free() {
    assert_eq!(
        selector(" team  in(a , b ) , ! legacy,x = y "),
        selector("team in (a,b),!legacy,x=y")
    );
    assert_eq!(selector("a==b"), selector("a=b"));
}

#[test]
fn the_canonical_form_parses_back() {
    for text in [
        "team in (b,a),!legacy",
        "a=,b!=c,k notin (,x)",
        "example.com/tier=front",
        "in=in",
        "x in ()",
    ] {
        let parsed = selector(text);
        assert_eq!(selector(&parsed.to_string()), parsed, "{text} -> {parsed}");
    }
    assert_eq!(
        selector("team in (b,a),!legacy").to_string(),
        "team in (a,b),!legacy"
    );
}

#[test]
fn mistakes_say_what_and_where() {
    for (text, says) in [
        ("a=b,", "expected a label key at character 5, found the end"),
        (",", "expected a label key at character 1"),
        (
            "a b",
            "expected =, ==, !=, in or notin at character 3, found \"b\"",
        ),
        ("a in b", "expected '(' at character 6"),
        ("a in (b", "expected ',' or ')'"),
        ("a in (b c)", "expected ',' or ')' at character 9"),
        ("a in (=)", "a label value, ',' or ')'"),
        ("!a=b", "expected ',' or the end at character 3"),
        ("a=b=c", "expected ',' or the end"),
        ("a=(b)", "expected a label value"),
        ("a>1", "numeric comparisons are not supported"),
        ("a<1", "numeric comparisons"),
        ("a=b c", "found \"c\""),
        ("Bad_/x=1", "prefix"),
        ("a=-b", "the label value \"-b\""),
        ("a=é", "the label value"),
        ("-a", "the label key's name"),
        (")", "found \")\""),
    ] {
        let err = LabelSelector::parse(text).expect_err(text);
        assert!(err.contains(says), "{text}: {err}");
    }
    let long = "a,".repeat(MAX_SELECTOR);
    assert!(LabelSelector::parse(&long).unwrap_err().contains("at most"));
}
