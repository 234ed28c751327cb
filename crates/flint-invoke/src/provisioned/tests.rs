use super::*;

#[test]
fn qualifiers_come_from_qualified_arns_only() {
    assert_eq!(
        arn_qualifier("arn:aws:lambda:us-east-1:000000000000:function:f:live"),
        Some("live")
    );
    assert_eq!(
        arn_qualifier("arn:aws:lambda:us-east-1:000000000000:function:f:7"),
        Some("7")
    );
    assert_eq!(
        arn_qualifier("arn:aws:lambda:us-east-1:000000000000:function:f"),
        None
    );
}
