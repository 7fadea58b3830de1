//! Entry point: parse arguments, run, map the outcome to an exit code.

/// mimalloc rather than the system's allocator: an import allocates for every row and every request (JSON values,
/// headers, futures), and glibc's `malloc` and `free` were an eighth of the importer's instructions
/// (BENCHMARKS.md, issue 14's throughput).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(tpbulk::main_entry());
}
