use super::*;

fn key() -> SigningKey {
    SigningKey::from_seed([7; 32])
}

fn record(id: &str) -> String {
    serde_json::json!({ "record_kind": "promotion-vote", "record_id": id, "approve": true, "comment": "rollback plan reviewed" })
        .to_string()
}

fn signed(id: &str) -> Sealed {
    let record = record(id);
    let signature = Signature {
        signer_id: "u-1".into(),
        signer: "quinn".into(),
        printed_name: "Quinn Q.".into(),
        signed_at: "2026-11-30T10:04:31Z".into(),
        meaning: Meaning::Approval,
        record_kind: "promotion-vote".into(),
        record_id: id.into(),
        record_hash: record_hash(record.as_bytes()),
    };
    seal(signature, record, &key())
}

#[test]
fn a_signature_reads_with_name_meaning_and_time() {
    assert_eq!(
        signed("promotion/7/vote/quinn").signature.manifestation(),
        "Signed by Quinn Q. (quinn) — approval — 2026-11-30 10:04 UTC"
    );
}

#[test]
fn a_sealed_signature_verifies_offline_with_the_server_key() {
    assert_eq!(
        verify(&signed("promotion/7/vote/quinn"), &key().public_key()),
        Ok(())
    );
}

#[test]
fn an_altered_record_fails_naming_both_hashes() {
    let mut s = signed("promotion/7/vote/quinn");
    s.record = s
        .record
        .replace("rollback plan reviewed", "nothing checked");
    let e = verify(&s, &key().public_key()).unwrap_err();
    assert!(matches!(e, SignatureProblem::RecordAltered { .. }), "{e}");
    assert!(e.to_string().starts_with("the signed record was altered"));
}

#[test]
fn a_signature_copied_to_another_record_fails() {
    let mut s = signed("promotion/7/vote/quinn");
    // Copy the whole signature, seal included, onto another (genuine) record.
    let other = record("promotion/8/vote/quinn");
    s.record = other.clone();
    assert!(matches!(
        verify(&s, &key().public_key()),
        Err(SignatureProblem::RecordAltered { .. })
    ));
    // Rebinding the hash breaks the seal; rebinding the id too breaks it as well.
    s.signature.record_hash = record_hash(other.as_bytes());
    assert!(matches!(
        verify(&s, &key().public_key()),
        Err(SignatureProblem::OtherRecord { .. })
    ));
    s.signature.record_id = "promotion/8/vote/quinn".into();
    assert_eq!(
        verify(&s, &key().public_key()),
        Err(SignatureProblem::SealBroken)
    );
}

#[test]
fn every_signed_field_is_under_the_seal() {
    let k = key().public_key();
    let edits: [fn(&mut Signature); 5] = [
        |s| s.signer = "otto".into(),
        |s| s.printed_name = "Otto O.".into(),
        |s| s.signed_at = "2026-11-29T10:04:31Z".into(),
        |s| s.meaning = Meaning::Review,
        |s| s.signer_id = "u-2".into(),
    ];
    for edit in edits {
        let mut s = signed("promotion/7/vote/quinn");
        edit(&mut s.signature);
        assert_eq!(verify(&s, &k), Err(SignatureProblem::SealBroken));
    }
}

#[test]
fn a_seal_by_another_key_is_named() {
    let s = signed("promotion/7/vote/quinn");
    let other = SigningKey::from_seed([9; 32]).public_key();
    assert!(matches!(
        verify(&s, &other),
        Err(SignatureProblem::OtherKey { .. })
    ));
}

#[test]
fn payload_fields_cannot_run_into_each_other() {
    let mut a = signed("x").signature;
    let mut b = a.clone();
    a.signer = "ab".into();
    a.printed_name = "c".into();
    b.signer = "a".into();
    b.printed_name = "bc".into();
    assert_ne!(a.payload(), b.payload());
}

#[test]
fn each_action_has_a_fixed_meaning() {
    assert_eq!(Meaning::of(SignedAction::Approvals), Meaning::Approval);
    assert_eq!(Meaning::of(SignedAction::Rejections), Meaning::Review);
    assert_eq!(
        Meaning::of(SignedAction::Overrides),
        Meaning::Responsibility
    );
    crate::state_name::assert_names_round_trip(Meaning::ALL, "signature meaning");
}

fn pets() -> (crate::model::Project, Vec<crate::model::Environment>) {
    let config = crate::config::load(&[crate::config::Source {
        name: "slipway.yaml",
        text: include_str!("../../../../examples/pets/slipway.yaml"),
    }])
    .expect("the example loads");
    (config.projects[0].clone(), config.environments)
}

#[test]
fn a_risk_acceptance_is_signed_where_an_environment_the_project_reaches_asks() {
    let (mut project, mut envs) = pets();
    assert_eq!(risk_acceptance_policy(&project, &envs), None);
    let prod = envs
        .iter_mut()
        .find(|e| e.name.as_str() == "PROD-US")
        .expect("PROD-US");
    prod.gates.signatures.insert(SignedAction::RiskAcceptances);
    assert_eq!(
        risk_acceptance_policy(&project, &envs).map(|e| e.name.as_str()),
        Some("PROD-US")
    );
    // A project whose lifecycles never reach PROD-US is not bound by its policy.
    for l in &mut project.lifecycles {
        for p in &mut l.phases {
            p.environments.retain(|e| e.as_str() != "PROD-US");
        }
    }
    assert_eq!(risk_acceptance_policy(&project, &envs), None);
    // Without any lifecycle, the project may deploy anywhere: every policy binds it.
    project.lifecycles.clear();
    assert_eq!(
        risk_acceptance_policy(&project, &envs).map(|e| e.name.as_str()),
        Some("PROD-US")
    );
}
