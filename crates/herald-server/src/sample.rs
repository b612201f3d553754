//! Sample events of every type, for the self-test and the demo.

use herald_proto::EventType;
use serde_json::json;

/// Title, message and data of a plausible event of `kind`; `n` varies them.
pub fn sample(kind: EventType, n: u64) -> (String, String, serde_json::Value) {
    let order = format!("ord_{}", 1000 + n);
    match kind {
        EventType::LoginNotification => (
            "New login detected".into(),
            "Login from Local network (test)".into(),
            json!({
                "loginInfo": {
                    "ip": "127.0.0.1",
                    "device": "Test device",
                    "location": "Local network",
                    "time": chrono::Utc::now().to_rfc3339(),
                },
                "loginId": format!("test-{n}"),
            }),
        ),
        EventType::OrderUpdate => {
            let status = ["confirmed", "shipped", "delivered"][(n % 3) as usize];
            (
                "Order update".into(),
                format!("Order {order} {status}"),
                json!({"orderId": order, "status": status}),
            )
        }
        EventType::NewOrder => (
            "New order".into(),
            format!("Order {order} from Ada Lovelace: $42.00"),
            json!({"orderId": order, "customer": "Ada Lovelace", "total": 42.0}),
        ),
        EventType::PaymentUpdate => (
            "Payment received".into(),
            format!("$42.00 for order {order}"),
            json!({"orderId": order, "amount": 42.0, "status": "succeeded"}),
        ),
        EventType::Announcement => (
            "Maintenance tonight".into(),
            "The service restarts at 02:00 UTC for about five minutes.".into(),
            json!({}),
        ),
        EventType::Notification => (
            "Hello from Herald".into(),
            format!("Test notification #{n}"),
            json!({"source": "self-test"}),
        ),
    }
}
