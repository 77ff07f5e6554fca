//! Snapshot tests (insta) of what people read: release notes, the derived rollback plan of the
//! Pets example, and configuration error messages. Review a change with `cargo insta review`
//! (or `INSTA_UPDATE=always cargo test -p slipway-core --test snapshots` and read the diff).

// A test crate: an unwrap that fails is a failed test that names its line, which is what a test
// wants. (clippy's allow-unwrap-in-tests covers only `#[test]` functions, not their helpers.)
#![allow(clippy::unwrap_used)]

use slipway_core::config::{load, Source};
use slipway_core::release::notes::{generate, parse_commits};
use slipway_core::release::{Channel, Version};
use slipway_core::rollback::derive_rollback;
use slipway_core::Name;

const PETS: &str = include_str!("../../../examples/pets/slipway.yaml");

#[test]
fn release_notes_markdown() {
    let commits = parse_commits(
        "a1b2c3d feat(api): search pets by name\n\
         b2c3d4e fix: the adoption form keeps its values after an error\n\
         c3d4e5f feat!: owners need an e-mail address\n\
         d4e5f6a chore: bump the JDBC driver\n\
         e5f6a7b refactor(batch): one query per export instead of one per pet\n\
         f6a7b8c fix(sql): index the owners' e-mail\n",
    );
    let notes = generate(
        &Name::parse("pets").unwrap(),
        &Version::parse("1.4.0-rc.1").unwrap(),
        Channel::Rc,
        &commits,
    );
    insta::assert_snapshot!(notes.to_markdown());
}

#[test]
fn rollback_plan_of_the_pets_plan() {
    let config = load(&[Source {
        name: "examples/pets/slipway.yaml",
        text: PETS,
    }])
    .unwrap();
    let pets = &config.projects[0];
    let plan = derive_rollback(&pets.steps_for(&Name::parse("PROD-EU").unwrap()));
    insta::assert_snapshot!(serde_json::to_string_pretty(&plan).unwrap());
}

fn errors_of(text: &str) -> String {
    match load(&[Source {
        name: "slipway.yaml",
        text,
    }]) {
        Ok(_) => panic!("this configuration should be refused"),
        Err(errors) => errors.to_string(),
    }
}

#[test]
fn config_error_for_an_unknown_key() {
    insta::assert_snapshot!(errors_of(
        "environments:\n  - name: DEV\n    protect: true\n"
    ));
}

#[test]
fn config_error_for_a_step_naming_an_unknown_component() {
    insta::assert_snapshot!(errors_of(
        "project:\n  name: pets\n  components:\n    - { name: pets-war, kind: war }\n  plan:\n    - name: Deploy\n      action: artifact.place\n      with: { component: pets-wra, destination: /srv/pets }\n"
    ));
}
