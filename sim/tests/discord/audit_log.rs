//! `X-Audit-Log-Reason`: decoded, logged and limited.

use super::*;

#[tokio::test]
async fn audit_log_reasons_are_decoded_logged_and_limited() {
    let test = TestSim::seeded().await;
    let path = role_path(GUILD, PLAIN, TRUSTED_ROLE);
    test.with_reason(
        Method::PUT,
        TOKEN,
        &path,
        &encode("Promoted by Roster \u{2713} (rank 2)"),
    )
    .await
    .no_content();
    test.with_reason(Method::DELETE, TOKEN, &path, "100%25 sure, a%zz b+c")
        .await
        .no_content();
    let at_limit = "r".repeat(512);
    test.with_reason(Method::PUT, TOKEN, &path, &at_limit)
        .await
        .no_content();
    let too_long = "\u{e9}".repeat(513);
    let reply = test
        .with_reason(Method::DELETE, TOKEN, &path, &encode(&too_long))
        .await;
    reply.expect(400, 50035);
    assert_eq!(
        reply.field_error(&["audit_log_reason"]),
        Some("BASE_TYPE_MAX_LENGTH")
    );
    assert_eq!(
        test.roles_of(GUILD, PLAIN),
        Some(vec![MEMBER_ROLE, TRUSTED_ROLE])
    );

    let reasons: Vec<Option<String>> = test
        .sim
        .log()
        .into_iter()
        .map(|entry| entry.audit_log_reason)
        .collect();
    assert_eq!(
        reasons,
        vec![
            Some("Promoted by Roster \u{2713} (rank 2)".to_owned()),
            Some("100% sure, a%zz b+c".to_owned()),
            Some(at_limit),
            Some(too_long),
        ]
    );
    test.stop().await;
}
