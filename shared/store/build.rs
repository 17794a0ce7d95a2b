// sqlx::migrate! embeds the migrations when this crate compiles: rebuild it when one is added.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
