// Hand-written reference for the OVP PE: a 4-bit signed integer times an int4 weight, shifted
// left by a 3-bit exponent (at most 6 from the decoder, any of 0..7 accepted) and accumulated.
`default_nettype none
module ref_mac_ovp #(parameter PSUM = 16) (
    input  wire            clk,
    input  wire            rst,
    input  wire [7:0]      op_in,
    input  wire [PSUM-1:0] psum_in,
    input  wire [3:0]      weight0,
    input  wire [3:0]      weight1,
    output reg  [7:0]      op_out,
    output reg  [PSUM-1:0] psum_out
);
    wire [3:0] w = op_in[7] ? weight1 : weight0;
    wire signed [7:0] p = $signed(op_in[3:0]) * $signed(w);
    wire signed [14:0] s = {{7{p[7]}}, p} <<< op_in[6:4];
    always @(posedge clk) begin
        if (rst) begin
            op_out <= 8'd0;
            psum_out <= {PSUM{1'b0}};
        end else begin
            op_out <= op_in;
            psum_out <= psum_in + {{(PSUM-15){s[14]}}, s};
        end
    end
endmodule
`default_nettype wire
