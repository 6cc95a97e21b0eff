//! Authentication and Origin checks: JWT from each source, every refused token (401 before the upgrade),
//! algorithm confusion, the `dashboards` claim, expiry (4401), `refresh` (kept, 4001, 4003), and the
//! Origin allowlist (403). Each test checks that the server and other clients survive.

mod server_support;

use dashfeed::server::{AuthConfig, ServerConfig};
use serde_json::json;
use server_support::*;
use std::time::Duration;

const SECRET: &str = "test-secret-that-is-long-enough";

/// A throwaway RSA key pair used only by these tests.
const RSA_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDCd3KrNv+p9MO5\nTZgzxmupPfamkGbTVfTLaLG6XQaZuKWbeCM+0V+mhJdGlNOvzTQZh2AlsJojWhN7\nwPHfpf5PCtjMG3UFmQRj1IdhD/vbKC2OhKmL6B9DXAgCc2uU5aQcQKWelHP9rYWV\n1IuUMVxdGv2vySNO2ovJfIEmhTsRMyVhE+fAK2TLdxNKuFBY77p6Pax1fmf1bs31\nuV7ooKuBTBvo78hF6JySSWAeuNd6/lFLdIBY5woUAnV1yrI5E1WhkCr0ztnH/thy\nk1EihIEuTfmWeY8C56UTwZOGi2KAozbvbNG8d6HNYl/lkHv2oNPCSQZMrQtX1bXY\ntPXkZN2lAgMBAAECggEACxr0U4aTm+0kUTx3EjvaUZhThyhiFYmy2KaNAbzGv/gS\nuFm9v4cIPJOVVPyc8yJCP6lNX7xMV8j7fwV3epi5jgzV8R//SIzNZUsRg8TnJ9k3\n8svXfSvKFJgYmqqPN09UQMsd+iagUhllnSG9v9PVd7lZyT8GCGkuyENB19qOEzmx\nmeBhUxKIZB8B5yZyB4xqF3mAoWOMaWvMVNy8NjdLnoOI4IVz6P3uwtxy6Iy5Zpq4\n0hh6J/psrCViFIMfqE7Y/iqi75uHJnViIHBaAnkJUI3ii/phl7qO+IIChEbtSmq2\nm3l5pPdv1Juf8sbt7IgySr9zJAUjsjJBuZFwK6DjSQKBgQDghG0HBkt9SAWOtOXo\nJrDw4tE4+RWS7H2opc42u0cHJz/Bd/exnLDkIe04WzbH0liwlg4LbRGx+vjTSAgA\npa4iq4FZyK+249OPsND2b71EzF5TidKUQrgtX5c+SMJiNNM0L2JobKWkHVkxUi3u\n+bNtz1hLB65G063QrOK0iLSeuQKBgQDdvEgsSPPooa2nKb12twpDJMaI9dEBP1pO\n0MQlSl6D+IT0EXgEKXzecdD2M21oO+KbhznC+gKGU7YX84Zua86tVkSNG2wwyJP3\nshRcP9kzQZAJ4UpUdUN3m6fvM0FPUo45OC7cifNfpFHDksK3QGuhBJPE/Ye6Tpyb\nEF6cdwogTQKBgHw0xpw8P0bvsSNhsE7eGMUqtdRu+CBv9JR4Jbzhnkm2zO6bD8yS\ngsmyeynSTFv/YlFOsjZgAIoV7dH053h0MAG+H7Er9QmYwFGd3/x1lJ+a8BQHCxg6\nUOnJGEK8vczWrIESNb7PXFOOaOmALSknurvlGVNozGEieeYXvtNhTYsBAoGANx1v\nyyIvDmnxohVr9LA2qs3fU3fWhbrbla+qsaI0sBT75zbYYCB320rrJ+dMkJYiE4qf\nPump6v2vy3BKv/OoIcnJrFFeqRmSPgVTrkJomKb5SJtpQGkNZhOYwIo6956Ln4lp\njIP1rJZJhJVcNPScTB+5I0PpktOrdZeyDK5CJBkCgYBvEJCL1DFTofqVMrRT5xGO\nxVKO2BZ9xCEoEZn6OgDVtF6ZbdsxhozUTlHoiY92x/g4ih8SnRED/1xqnWyCxd/5\n+Uw6jZQeQp5XcG8SkbcnvrWd76A52vBo6vWu/VSDaqclSxNO9sPh0nm5sH+2BLtq\nZgZUbH9npnz/CJElf4hocQ==\n-----END PRIVATE KEY-----";
const RSA_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwndyqzb/qfTDuU2YM8Zr\nqT32ppBm01X0y2ixul0Gmbilm3gjPtFfpoSXRpTTr800GYdgJbCaI1oTe8Dx36X+\nTwrYzBt1BZkEY9SHYQ/72ygtjoSpi+gfQ1wIAnNrlOWkHEClnpRz/a2FldSLlDFc\nXRr9r8kjTtqLyXyBJoU7ETMlYRPnwCtky3cTSrhQWO+6ej2sdX5n9W7N9ble6KCr\ngUwb6O/IReickklgHrjXev5RS3SAWOcKFAJ1dcqyORNVoZAq9M7Zx/7YcpNRIoSB\nLk35lnmPAuelE8GThotigKM272zRvHehzWJf5ZB79qDTwkkGTK0LV9W12LT15GTd\npQIDAQAB\n-----END PUBLIC KEY-----";

fn auth_config() -> ServerConfig {
    ServerConfig {
        auth: Some(AuthConfig::hs256(SECRET)),
        ..ServerConfig::ephemeral()
    }
}

fn token(exp_in: i64, dashboards: Option<serde_json::Value>) -> String {
    let mut claims = json!({"sub": "alice", "exp": now_secs() as i64 + exp_in});
    if let Some(d) = dashboards {
        claims["dashboards"] = d;
    }
    hs256(SECRET, claims)
}

#[tokio::test]
async fn tokens_are_read_from_header_subprotocol_and_query() {
    let hub = hub();
    let server = start(&hub, auth_config());
    let t = token(3600, None);
    let bearer = format!("Bearer {t}");
    let mut a = try_connect(
        &server,
        "/ws",
        &["dashfeed.v1.json"],
        &[("authorization", &bearer)],
    )
    .await
    .unwrap();
    let proto = format!("dashfeed.token.{t}");
    let mut b = try_connect(&server, "/ws", &[&proto, "dashfeed.v1.json"], &[])
        .await
        .unwrap();
    let mut c = connect(&server, &format!("/ws?token={t}")).await;
    for ws in [&mut a, &mut b, &mut c] {
        assert_eq!(subscribe(ws, "ops").await["type"], "snapshot");
    }
    drop((a, b, c));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn refused_tokens_get_401_before_the_upgrade() {
    let hub = hub();
    let server = start(&hub, auth_config());
    let mut witness = connect(&server, &format!("/ws?token={}", token(3600, None))).await;
    subscribe(&mut witness, "ops").await;

    let now = now_secs();
    let valid = token(3600, None);
    let payload = valid.split('.').nth(1).unwrap();
    let alg_none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    let cases = [
        ("no token", None),
        ("garbage", Some("not-a-jwt".to_string())),
        ("alg none", Some(alg_none)),
        (
            "wrong secret",
            Some(hs256("another-secret", json!({"exp": now + 3600}))),
        ),
        ("missing exp", Some(hs256(SECRET, json!({"sub": "alice"})))),
        (
            "string exp",
            Some(hs256(SECRET, json!({"exp": (now + 3600).to_string()}))),
        ),
        ("expired", Some(hs256(SECRET, json!({"exp": now - 3600})))),
        (
            "not yet valid",
            Some(hs256(SECRET, json!({"exp": now + 3600, "nbf": now + 1800}))),
        ),
    ];
    for (what, t) in cases {
        let path = match &t {
            Some(t) => format!("/ws?token={t}"),
            None => "/ws".to_string(),
        };
        let r = try_connect(&server, &path, &["dashfeed.v1.json"], &[]).await;
        assert_eq!(refused_status(r), 401, "{what}");
        if let Some(t) = &t {
            let bearer = format!("Bearer {t}");
            let reply = http(
                &server,
                "GET",
                "/api/dashboards/ops",
                &[("authorization", &bearer)],
                b"",
            )
            .await;
            assert_eq!(reply.status, 401, "{what} on the API");
            assert_eq!(reply.json()["code"], "unauthorized");
        }
    }
    assert!(server.metrics().rejections("unauthorized") >= 15);
    hub.publish("ops", data(&[("cpu", 0.3)])).unwrap();
    assert_eq!(recv(&mut witness).await["data"]["cpu"], 0.3);
    drop(witness);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn rs256_tokens_and_algorithm_confusion() {
    let hub = hub();
    let config = ServerConfig {
        auth: Some(AuthConfig::rs256_pem(RSA_PUBLIC_PEM)),
        ..ServerConfig::ephemeral()
    };
    let server = start(&hub, config);
    let claims = json!({"exp": now_secs() + 3600});
    let good = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(RSA_PRIVATE_PEM.as_bytes()).unwrap(),
    )
    .unwrap();
    let mut ws = connect(&server, &format!("/ws?token={good}")).await;
    assert_eq!(subscribe(&mut ws, "ops").await["type"], "snapshot");
    // HS256 "signed" with the public key as the secret: the classic confusion attack.
    let confused = hs256(RSA_PUBLIC_PEM, claims);
    let r = try_connect(&server, &format!("/ws?token={confused}"), &[], &[]).await;
    assert_eq!(refused_status(r), 401);
    assert_alive(&mut ws).await;
    drop(ws);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn es256_tokens() {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let hub = hub();
    let config = ServerConfig {
        auth: Some(AuthConfig::es256_pem(key.public_key_pem())),
        ..ServerConfig::ephemeral()
    };
    let server = start(&hub, config);
    let t = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &json!({"exp": now_secs() + 3600}),
        &jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    let mut ws = connect(&server, &format!("/ws?token={t}")).await;
    assert_eq!(subscribe(&mut ws, "ops").await["type"], "snapshot");
    let r = try_connect(
        &server,
        &format!("/ws?token={}", token(3600, None)),
        &[],
        &[],
    )
    .await;
    assert_eq!(refused_status(r), 401, "an HS256 token on an ES256 server");
    drop(ws);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn dashboards_claim_limits_subscriptions() {
    let hub = hub();
    let server = start(&hub, auth_config());
    let t = token(3600, Some(json!(["ops", "team-*"])));
    let mut ws = connect(&server, &format!("/ws?token={t}")).await;
    assert_eq!(subscribe(&mut ws, "ops").await["type"], "snapshot");
    assert_eq!(subscribe(&mut ws, "team-blue").await["type"], "snapshot");
    let e = subscribe(&mut ws, "secret").await;
    assert_eq!(
        e,
        json!({
            "type": "error", "code": "forbidden",
            "message": "the token does not open this dashboard", "dashboard": "secret"
        })
    );
    assert_alive(&mut ws).await;

    let r = try_connect(&server, &format!("/dashboard/secret?token={t}"), &[], &[]).await;
    assert_eq!(refused_status(r), 403);
    let mut fixed = try_connect(&server, &format!("/dashboard/team-red?token={t}"), &[], &[])
        .await
        .unwrap();
    assert_eq!(recv(&mut fixed).await["dashboard"], "team-red");
    let reply = get(&server, &format!("/api/dashboards/secret?token={t}")).await;
    assert_eq!(reply.status, 403);
    let reply = get(&server, &format!("/sse/secret?token={t}")).await;
    assert_eq!(reply.status, 403);
    let body = br#"{"dashboard":"secret","metric":"m","value":1}"#;
    let bearer = format!("Bearer {t}");
    let reply = http(
        &server,
        "POST",
        "/api/events",
        &[("authorization", &bearer)],
        body,
    )
    .await;
    assert_eq!(reply.status, 403);
    assert!(
        hub.snapshot("secret").unwrap().is_none(),
        "nothing was ingested"
    );
    drop((ws, fixed));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_expired_token_closes_the_connection_with_4401() {
    let hub = hub();
    let server = start(&hub, auth_config());
    let mut other = connect(&server, &format!("/ws?token={}", token(3600, None))).await;
    let mut ws = connect(&server, &format!("/ws?token={}", token(1, None))).await;
    subscribe(&mut ws, "ops").await;
    let f = recv_close(&mut ws).await;
    assert_eq!((code(&f), f.reason.as_str()), (4401, "token expired"));
    assert_alive(&mut other).await;
    drop(other);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn refresh_keeps_the_connection_past_the_first_expiry() {
    let hub = hub();
    let server = start(&hub, auth_config());
    let first = now_secs() + 2;
    let t = hs256(SECRET, json!({"sub": "alice", "exp": first}));
    let mut ws = connect(&server, &format!("/ws?token={t}")).await;
    subscribe(&mut ws, "ops").await;
    send_json(
        &mut ws,
        json!({"op": "refresh", "token": token(3600, None)}),
    )
    .await;
    assert_alive(&mut ws).await;
    // Wait (bounded) until the first token has expired, then check the connection is still served.
    let past = std::time::UNIX_EPOCH + Duration::from_millis(first * 1000 + 500);
    if let Ok(left) = past.duration_since(std::time::SystemTime::now()) {
        tokio::time::sleep(left).await;
    }
    hub.publish("ops", data(&[("cpu", 0.8)])).unwrap();
    assert_eq!(recv(&mut ws).await["data"]["cpu"], 0.8);
    assert_alive(&mut ws).await;
    drop(ws);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn refresh_with_a_bad_token_closes_with_4001() {
    let hub = hub();
    let server = start(&hub, auth_config());
    let mut other = connect(&server, &format!("/ws?token={}", token(3600, None))).await;
    for bad in [
        "garbage".to_string(),
        hs256(SECRET, json!({"sub": "alice", "exp": now_secs() - 10})),
        hs256(SECRET, json!({"sub": "mallory", "exp": now_secs() + 3600})),
    ] {
        let mut ws = connect(&server, &format!("/ws?token={}", token(3600, None))).await;
        send_json(&mut ws, json!({"op": "refresh", "token": bad})).await;
        assert_eq!(code(&recv_close(&mut ws).await), 4001);
    }
    let mut ws = connect(&server, &format!("/ws?token={}", token(3600, None))).await;
    send_json(&mut ws, json!({"op": "refresh"})).await;
    assert_eq!(
        recv(&mut ws).await["code"],
        "invalid_input",
        "a malformed refresh keeps the connection"
    );
    assert_alive(&mut ws).await;
    assert_alive(&mut other).await;
    drop((ws, other));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_narrower_refresh_ends_forbidden_subscriptions() {
    let hub = hub();
    let server = start(&hub, auth_config());
    let wide = token(3600, Some(json!("*")));
    let narrow = token(3600, Some(json!(["ops"])));
    let mut ws = connect(&server, &format!("/ws?token={wide}")).await;
    subscribe(&mut ws, "ops").await;
    subscribe(&mut ws, "billing").await;
    send_json(&mut ws, json!({"op": "refresh", "token": narrow})).await;
    let e = recv(&mut ws).await;
    assert_eq!(
        (e["code"].clone(), e["dashboard"].clone()),
        (json!("forbidden"), json!("billing"))
    );
    hub.publish("billing", data(&[("x", 1.5)])).unwrap();
    hub.publish("ops", data(&[("cpu", 0.5)])).unwrap();
    assert_eq!(recv(&mut ws).await["dashboard"], "ops");

    let mut fixed = try_connect(
        &server,
        &format!("/dashboard/billing?token={wide}"),
        &[],
        &[],
    )
    .await
    .unwrap();
    recv(&mut fixed).await;
    send_json(&mut fixed, json!({"op": "refresh", "token": narrow})).await;
    assert_eq!(code(&recv_close(&mut fixed).await), 4003);
    assert_alive(&mut ws).await;
    drop(ws);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn foreign_origins_get_403_before_the_upgrade() {
    let hub = hub();
    let config = ServerConfig {
        allowed_origins: Some(vec!["https://dash.example.com".into()]),
        ..ServerConfig::ephemeral()
    };
    let server = start(&hub, config);
    let r = try_connect(&server, "/ws", &[], &[("origin", "https://evil.example")]).await;
    assert_eq!(refused_status(r), 403);
    let mut ok = try_connect(
        &server,
        "/ws",
        &[],
        &[("origin", "https://dash.example.com")],
    )
    .await
    .unwrap();
    let mut no_origin = connect(&server, "/ws").await;
    let reply = http(
        &server,
        "GET",
        "/sse/ops",
        &[("origin", "https://evil.example")],
        b"",
    )
    .await;
    assert_eq!(reply.status, 403);
    let body = br#"{"dashboard":"ops","metric":"m","value":1}"#;
    let reply = http(
        &server,
        "POST",
        "/api/events",
        &[("origin", "https://evil.example")],
        body,
    )
    .await;
    assert_eq!(reply.status, 403);
    assert_eq!(server.metrics().rejections("origin"), 3);
    assert_alive(&mut ok).await;
    assert_alive(&mut no_origin).await;
    drop((ok, no_origin));
    server.shutdown().await.unwrap();
}
