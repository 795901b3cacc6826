// The yardstick of the simulation-speed bench (`oltron bench`): a bare weight-stationary int4
// systolic array of N x N PEs, hand-written, with nothing around it. Activations enter at the
// left edge and move right one PE per cycle, 32-bit partial sums move down one PE per cycle,
// weights are fixed per PE. A free-running LFSR feeds the rows, and a checksum of the column
// sums keeps every PE live. Clocked from an always block, as `verilator --binary` runs it.
// Run: ./Vbare +cycles=<n>   (prints the checksum and the cycle count)
`timescale 1ns/1ps
module bare_pe (
    input  wire       clk,
    input  wire [3:0] a,
    input  wire [3:0] w,
    input  wire [31:0] p,
    output reg  [3:0] a_q,
    output reg  [31:0] p_q
);
    wire signed [7:0] prod = $signed(a) * $signed(w);
    always @(posedge clk) begin
        a_q <= a;
        p_q <= p + {{24{prod[7]}}, prod};
    end
endmodule

module bare_array_tb;
    parameter N = 16;
    reg clk = 1'b0;
    /* verilator lint_off BLKSEQ */
    always #5 clk = ~clk;
    /* verilator lint_on BLKSEQ */

    reg [31:0] lfsr = 32'h1;
    always @(posedge clk) lfsr <= {lfsr[30:0], lfsr[31] ^ lfsr[21] ^ lfsr[1] ^ lfsr[0]};

    wire [3:0]  a_h [0:N-1][0:N];    // activation entering PE (row, col)
    wire [31:0] p_v [0:N][0:N-1];    // partial sum entering PE (row, col)
    genvar r, c;
    generate
        for (r = 0; r < N; r = r + 1) begin : g_row
            assign a_h[r][0] = lfsr[(4 * r) % 29 +: 4];
            for (c = 0; c < N; c = c + 1) begin : g_col
                bare_pe u_pe (
                    .clk(clk), .a(a_h[r][c]), .w(4'((r * 7 + c * 3) & 15)), .p(p_v[r][c]),
                    .a_q(a_h[r][c + 1]), .p_q(p_v[r + 1][c])
                );
            end
        end
        for (c = 0; c < N; c = c + 1) begin : g_top
            assign p_v[0][c] = 32'd0;
        end
    endgenerate

    reg [31:0] checksum = 32'd0;
    reg [31:0] fold;
    integer k;
    always @(posedge clk) begin
        fold = checksum;
        for (k = 0; k < N; k = k + 1) fold = fold ^ p_v[N][k];
        checksum <= fold;
    end

    reg [63:0] cycles, limit;
    initial begin
        if (!$value$plusargs("cycles=%d", limit)) limit = 64'd1000000;
        cycles = 64'd0;
        while (cycles < limit) begin
            @(posedge clk);
            cycles = cycles + 64'd1;
        end
        $display("bare: %0d cycles, checksum %08x", cycles, checksum);
        $finish;
    end
endmodule
