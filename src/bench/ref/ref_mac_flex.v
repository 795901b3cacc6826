// Hand-written reference for the flexible PE: a 5-bit signed integer times an int4 weight,
// shifted left by a 5-bit amount and added modulo 2^32, with the generated PE's ports.
`default_nettype none
module ref_mac_flex (
    input  wire        clk,
    input  wire        rst,
    input  wire [10:0] op_in,
    input  wire [31:0] psum_in,
    input  wire [3:0]  weight0,
    input  wire [3:0]  weight1,
    output reg  [10:0] op_out,
    output reg  [31:0] psum_out
);
    wire [3:0] w = op_in[10] ? weight1 : weight0;
    wire signed [8:0] p = $signed(op_in[4:0]) * $signed(w);
    wire signed [31:0] p32 = {{23{p[8]}}, p};
    always @(posedge clk) begin
        if (rst) begin
            op_out <= 11'd0;
            psum_out <= 32'd0;
        end else begin
            op_out <= op_in;
            psum_out <= psum_in + (p32 <<< op_in[9:5]);
        end
    end
endmodule
`default_nettype wire
