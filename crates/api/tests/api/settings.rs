//! `/api/v2/tailnet/{tailnet}/settings`.

use http::StatusCode;
use serde_json::json;

use crate::helpers::{Auth, TestApp};

const SETTINGS: &str = "/api/v2/tailnet/-/settings";

#[tokio::test]
async fn get_returns_the_defaults_to_anyone_authenticated() {
    let app = TestApp::new().await;
    let alice = Auth::Basic(app.user_with_token("alice").await);
    for auth in [Auth::Admin, alice] {
        let r = app.get(SETTINGS, &auth).await;
        r.assert_status(StatusCode::OK);
        assert_eq!(r.json(), json!({ "devicesApprovalOn": false, "devicesKeyDurationDays": 180 }));
    }
}

#[tokio::test]
async fn patch_changes_the_given_fields_only() {
    let app = TestApp::new().await;
    let r = app.patch(SETTINGS, &Auth::Admin, json!({ "devicesApprovalOn": true })).await;
    r.assert_status(StatusCode::OK);
    assert_eq!(r.json(), json!({ "devicesApprovalOn": true, "devicesKeyDurationDays": 180 }));

    let r = app.patch(SETTINGS, &Auth::Admin, json!({ "devicesKeyDurationDays": 30 })).await;
    assert_eq!(r.json(), json!({ "devicesApprovalOn": true, "devicesKeyDurationDays": 30 }));

    let r = app
        .patch(
            SETTINGS,
            &Auth::Admin,
            json!({ "devicesApprovalOn": false, "devicesKeyDurationDays": 7 }),
        )
        .await;
    assert_eq!(r.json(), json!({ "devicesApprovalOn": false, "devicesKeyDurationDays": 7 }));

    let r = app.patch(SETTINGS, &Auth::Admin, json!({})).await;
    r.assert_status(StatusCode::OK);
    assert_eq!(r.json(), json!({ "devicesApprovalOn": false, "devicesKeyDurationDays": 7 }));
    assert_eq!(app.get(SETTINGS, &Auth::Admin).await.json(), r.json());
}

#[tokio::test]
async fn an_out_of_range_duration_is_400_and_changes_nothing() {
    let app = TestApp::new().await;
    for days in [0, 181] {
        let r = app
            .patch(
                SETTINGS,
                &Auth::Admin,
                json!({ "devicesApprovalOn": true, "devicesKeyDurationDays": days }),
            )
            .await;
        r.assert_status(StatusCode::BAD_REQUEST);
        assert!(r.message().contains("from 1 to 180 days"), "{}", r.message());
    }
    let r = app.patch(SETTINGS, &Auth::Admin, json!({ "devicesKeyDurationDays": -1 })).await;
    r.assert_status(StatusCode::BAD_REQUEST);
    assert!(r.message().contains("devicesKeyDurationDays"), "{}", r.message());

    assert_eq!(
        app.get(SETTINGS, &Auth::Admin).await.json(),
        json!({ "devicesApprovalOn": false, "devicesKeyDurationDays": 180 })
    );
}
