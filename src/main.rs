//! Entry point: parse arguments, run, map the outcome to an exit code.

fn main() {
    std::process::exit(tpbulk::main_entry());
}
