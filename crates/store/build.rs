// `sqlx::migrate!()` embeds migrations/ and migrations_pg/ at compile time; without this, adding
// a migration file would not trigger a rebuild and the binary would silently ship the old schema.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=migrations_pg");
}
